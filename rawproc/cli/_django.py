"""Shared start-up for the subcommands that need Django (``serve``, ``token``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

STATIC_FINGERPRINT = ".rawproc-static"


def setup() -> None:
    """Load the project settings from the environment (no database access yet)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def pending_migrations(database: str = "default") -> list[str]:
    """The migrations ``migrate`` would apply, as ``app.name``, in order: the applied ones
    (one query) against the leaf nodes of the migration graph (read from the files)."""
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[database])
    if executor.loader.detect_conflicts():
        return ["(conflicting migrations)"]  # migrate itself reports them
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def migrate() -> list[str]:
    """Prepare the data folder and apply pending migrations quietly; returns what was
    applied. When the schema is current only the check above runs (no system checks, no
    ``migrate`` command), which is what keeps ``rawproc serve``'s start short."""
    from django.core.management import call_command

    from rawproc.bootstrap import create_cache_tables, prepare_data_dir

    prepare_data_dir()  # before the first query, which may create the SQLite file
    pending = pending_migrations()
    if pending:
        call_command("migrate", interactive=False, verbosity=0)
    else:
        create_cache_tables("default")
    return pending


def static_fingerprint() -> str:
    """A hash of every static source file's path, size and modification time, and of where
    and how they are collected: what ``collectstatic`` would copy."""
    from django.conf import settings
    from django.contrib.staticfiles.finders import get_finders

    digest = hashlib.sha256(f"{settings.STATIC_ROOT}|{settings.STORAGES}".encode())
    entries = []
    for finder in get_finders():
        for path, storage in finder.list(["CVS", ".*", "*~"]):
            stat = os.stat(storage.path(path))
            entries.append(f"{path}|{stat.st_size}|{stat.st_mtime_ns}")
    for entry in sorted(entries):
        digest.update(entry.encode() + b"\n")
    return digest.hexdigest()


def collect_static() -> bool:
    """``collectstatic`` when the static sources changed since the last run that collected
    into the same folder (a fingerprint kept there); returns whether it ran."""
    from django.conf import settings
    from django.core.management import call_command

    marker = Path(settings.STATIC_ROOT) / STATIC_FINGERPRINT
    fingerprint = static_fingerprint()
    try:
        if marker.read_text() == fingerprint:
            return False
    except OSError:
        pass
    call_command("collectstatic", interactive=False, verbosity=0)
    marker.write_text(fingerprint)
    return True
