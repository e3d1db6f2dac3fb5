"""``rawproc storage-audit``: objects no record references, and records missing their object.

Lists every object under the app's prefixes (``originals/``, ``renditions/``,
``incoming/``) and compares them with the database. Prints counts (``--json``: one JSON
object); ``--delete`` removes the orphans found. Objects younger than ``--min-age`` seconds
are left alone (a processing run writes renditions before it commits the rows naming them).

Exit status: 0 when nothing is left to fix, 1 when orphans remain or records miss their
object, 2 when storage or the database is unavailable.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(subparsers: Any, name: str, summary: str) -> None:
    parser = subparsers.add_parser(name, help=summary, description=summary)
    parser.add_argument("--delete", action="store_true", help="Remove the orphaned objects.")
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
    parser.add_argument(
        "--min-age",
        type=int,
        default=None,
        metavar="SECONDS",
        help="Only objects older than this count as orphans "
        "(default: the larger of one hour and twice the task time limit).",
    )


def run(args: argparse.Namespace) -> int:
    from rawproc.cli._django import setup

    setup()
    from datetime import timedelta

    from django.db import DatabaseError

    from rawproc import storage
    from rawproc.services.storage_audit import storage_audit

    min_age = None if args.min_age is None else timedelta(seconds=max(0, args.min_age))
    try:
        report = storage_audit(delete=args.delete, min_age=min_age)
    except (storage.StorageError, DatabaseError) as exc:
        print(f"rawproc storage-audit: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(f"objects:  {report.objects} ({report.bytes} bytes)")
        print(f"orphans:  {report.orphans} ({report.orphan_bytes} bytes)", end="")
        print(f", {report.orphans_removed} removed" if args.delete else "")
        for prefix, count in report.orphans_by_prefix.items():
            print(f"  {prefix:<12} {count}")
        print(f"missing:  {report.missing} records whose object is not in storage")
        for key in report.missing_keys:
            print(f"  {key}")
    return 0 if report.clean else 1
