"""``rawproc token USERNAME``: create the user when missing and print an API token.

The token goes to stdout alone, so ``TOKEN=$(rawproc token alice)`` works in scripts.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(subparsers: Any, name: str, summary: str) -> None:
    parser = subparsers.add_parser(name, help=summary, description=summary)
    parser.add_argument("username", help="User name (created when missing).")
    parser.add_argument(
        "--rotate", action="store_true", help="Revoke the user's current token and issue a new one."
    )


def run(args: argparse.Namespace) -> int:
    from rawproc.cli._django import migrate, setup

    setup()
    from django.contrib.auth import get_user_model
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
        migrate()
        with transaction.atomic():
            user, created = user_model.objects.get_or_create(username=args.username)
            if created:
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
