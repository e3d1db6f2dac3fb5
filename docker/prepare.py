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


def _ensure_bucket() -> int:
    from rawproc import storage

    if not storage.is_s3():
        return 0
    try:
        storage.check()
        print(f"bucket {storage.backend().bucket_name!r} is reachable")
        return 0
    except storage.StorageError as exc:  # a missing bucket answers 404
        if os.environ.get("RAWPROC_CREATE_BUCKET", "").lower() not in ("1", "true", "yes"):
            print(f"prepare: the bucket cannot be used: {exc}", file=sys.stderr)
            return 1
    from botocore.exceptions import BotoCoreError, ClientError

    name = storage.backend().bucket_name
    try:
        storage.backend().connection.meta.client.create_bucket(Bucket=name)
        storage.check()
    except (BotoCoreError, ClientError, storage.StorageError) as exc:
        print(f"prepare: cannot create the bucket {name!r}: {exc}", file=sys.stderr)
        return 1
    print(f"bucket {name!r} created")
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
    return _ensure_bucket()


if __name__ == "__main__":
    sys.exit(main())
