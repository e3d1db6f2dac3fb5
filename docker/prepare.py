"""One-shot start-up step of a deployment: apply migrations, then make sure the bucket exists.

Run once per release before the API and the workers start (compose runs it as the
``init`` service). A bucket that already exists is left alone (R2, S3: create it with
the provider's tools and give the keys no right to create buckets); a missing one is
created when ``RAWPROC_CREATE_BUCKET`` is true (the bundled SeaweedFS). Exits non-zero
with a message when the database or the storage cannot be used.
"""

from __future__ import annotations

import os
import sys

import django


def _ensure_storage() -> int:
    from rawproc import storage

    create = os.environ.get("RAWPROC_CREATE_BUCKET", "").lower() in ("1", "true", "yes")
    try:
        print(storage.prepare(create=create))
    except storage.StorageError as exc:
        print(f"prepare: the storage cannot be used: {exc}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import DatabaseError

    try:
        call_command("migrate", interactive=False, verbosity=1)
    except DatabaseError as exc:
        print(f"prepare: the database is unavailable: {exc}", file=sys.stderr)
        return 1
    return _ensure_storage()


if __name__ == "__main__":
    sys.exit(main())
