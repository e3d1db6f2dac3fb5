"""First-run preparation of the data folder, done by ``migrate`` (and so by ``rawproc serve``).

Importing the settings has no side effects; the folders the embedded stack needs (data,
broker, static files) and the development secret key are made here instead, and the
cache table when the cache is the database.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management import call_command


def prepare_data_dir() -> None:
    """Create the data folder, the file-system broker's folders and the development key."""
    folders = [Path(settings.DATA_DIR)]
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    if str(settings.CELERY_BROKER_URL).startswith("filesystem://"):
        folders += [Path(options[key]) for key in ("data_folder_in", "data_folder_out")]
        folders.append(Path(options["control_folder"]))
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("SECRET_KEY"):
        ensure_secret_key(Path(settings.RAWPROC_SECRET_KEY_FILE))


def ensure_secret_key(path: Path) -> str:
    """The key kept in ``path``, created once (atomically: several processes may race)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    key = secrets.token_urlsafe(50)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def create_cache_tables(database: str) -> None:
    """``createcachetable`` for the database cache (a no-op for any other cache backend)."""
    call_command("createcachetable", database=database, verbosity=0)
