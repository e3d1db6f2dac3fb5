"""``migrate``, plus the first-run steps of the data folder (rawproc.bootstrap).

Django's own command with two additions: before it, the data folder (where SQLite keeps the
database), the broker folders and the development secret key are created; after it, the
database cache table. Importing the settings creates nothing, so this is where it happens.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands.migrate import Command as MigrateCommand

from rawproc.bootstrap import create_cache_tables, prepare_data_dir


class Command(MigrateCommand):
    def execute(self, *args: Any, **options: Any) -> str | None:
        # Before the system checks, which may already open the SQLite file.
        prepare_data_dir()
        result: str | None = super().execute(*args, **options)
        return result

    def handle(self, *args: Any, **options: Any) -> None:
        super().handle(*args, **options)
        create_cache_tables(options["database"])
