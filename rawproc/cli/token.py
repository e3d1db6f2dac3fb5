"""``rawproc token USERNAME``: create the user when missing and print an API token.

The token goes to stdout alone, so ``TOKEN=$(rawproc token alice)`` works in scripts.
``--password`` also sets the password used to sign in to the web page.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any


def add_parser(subparsers: Any, name: str, summary: str) -> None:
    parser = subparsers.add_parser(name, help=summary, description=summary)
    parser.add_argument("username", help="User name (created when missing).")
    parser.add_argument(
        "--rotate", action="store_true", help="Revoke the user's current token and issue a new one."
    )
    parser.add_argument(
        "--password",
        action="store_true",
        help="Also set the password for the web page: asked on the terminal, "
        "or read as one line from standard input.",
    )


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password (again): "):
        raise ValueError("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    from rawproc.cli._django import migrate, setup

    setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    from django.db import DatabaseError, transaction
    from rest_framework.authtoken.models import Token

    user_model = get_user_model()
    try:
        user_model.username_validator(args.username)
    except ValidationError as exc:
        print(
            f"rawproc token: invalid user name {args.username!r}: {exc.messages[0]}",
            file=sys.stderr,
        )
        return 2
    try:
        password = _read_password() if args.password else None
        if password is not None:
            validate_password(password, user_model(username=args.username))
    except (ValueError, ValidationError) as exc:
        reason = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
        print(f"rawproc token: password not set: {reason}", file=sys.stderr)
        return 2
    try:
        migrate()
        with transaction.atomic():
            user, created = user_model.objects.get_or_create(username=args.username)
            if password is not None:
                user.set_password(password)
                user.save(update_fields=["password"])
            elif created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            if args.rotate:
                Token.objects.filter(user=user).delete()
            token, _ = Token.objects.get_or_create(user=user)
    except DatabaseError as exc:
        print(f"rawproc token: the database is unavailable: {exc}", file=sys.stderr)
        return 1
    if created:
        print(f"created user {args.username}", file=sys.stderr)
    print(token.key)
    return 0
