"""Shared start-up for the subcommands that need Django (``serve``, ``token``)."""

from __future__ import annotations

import os


def setup() -> None:
    """Load the project settings from the environment (no database access yet)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def migrate() -> None:
    """Apply pending migrations quietly; a no-op when the schema is current."""
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
