"""Storage against records: objects no record references (orphans) and records whose
objects are missing, under the app's prefixes (``originals/``, ``renditions/``, ``incoming/``).

Objects are listed first and the records read afterwards, so an object listed is never
mistaken for an orphan because its record was created a moment later; objects younger
than ``min_age`` are left out as well, since a worker writes renditions (and a multipart
upload its original) before the row that names them commits. A record reported missing is
checked once more against storage before it is counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from rawproc import storage
from rawproc.selectors import referenced_keys

logger = logging.getLogger(__name__)
SAMPLE_KEYS = 50


def default_min_age() -> timedelta:
    """Long enough for any processing run to commit what it wrote."""
    return timedelta(seconds=max(3600, 2 * settings.RAWPROC_TASK_HARD_TIME_LIMIT))


@dataclass
class AuditReport:
    objects: int = 0
    bytes: int = 0
    orphans: int = 0
    orphan_bytes: int = 0
    orphans_removed: int = 0
    missing: int = 0
    orphans_by_prefix: dict[str, int] = field(default_factory=dict)
    orphan_keys: list[str] = field(default_factory=list)
    missing_keys: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Nothing left to fix: no orphan remains and no record lacks its object."""
        return self.orphans == self.orphans_removed and not self.missing

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "clean": self.clean}


def storage_audit(
    *,
    delete: bool = False,
    min_age: timedelta | None = None,
    prefixes: tuple[str, ...] = storage.PREFIXES,
    now: datetime | None = None,
) -> AuditReport:
    """Compare storage with the records; with ``delete``, remove the orphans found."""
    cutoff = (now or timezone.now()) - (default_min_age() if min_age is None else min_age)
    listed = [info for prefix in prefixes for info in storage.list_objects(prefix)]
    expected, allowed = referenced_keys()
    report = AuditReport(objects=len(listed), bytes=sum(info.size for info in listed))
    by_prefix: Counter[str] = Counter()
    present = {info.key for info in listed}
    for info in listed:
        if info.key in expected or info.key in allowed or info.modified >= cutoff:
            continue
        report.orphans += 1
        report.orphan_bytes += info.size
        by_prefix[info.key.split("/", 1)[0] + "/"] += 1
        if len(report.orphan_keys) < SAMPLE_KEYS:
            report.orphan_keys.append(info.key)
        if delete:
            storage.delete(info.key)
            report.orphans_removed += 1
    report.orphans_by_prefix = dict(sorted(by_prefix.items()))
    for key in sorted(expected - present):
        if not key.startswith(prefixes) or storage.exists(key):
            continue  # outside this audit, or written after the listing
        report.missing += 1
        if len(report.missing_keys) < SAMPLE_KEYS:
            report.missing_keys.append(key)
    return report


def storage_sweep() -> dict[str, int]:
    """The periodic clean-up: abandoned uploads past their TTL, then ``incoming/`` objects
    no upload in progress names (written with a grant whose upload was completed, refused
    or deleted). Originals and renditions are only reported, by ``storage_audit``."""
    from rawproc.services.uploads import upload_expire

    expired = upload_expire()
    incoming = storage_audit(delete=True, min_age=timedelta(0), prefixes=(storage.INCOMING,))
    if incoming.orphans_removed:
        logger.info("removed %d dead incoming objects", incoming.orphans_removed)
    return {"expired_uploads": expired, "incoming_removed": incoming.orphans_removed}


def storage_audit_report() -> dict[str, Any]:
    """The periodic audit: report (log) what is out of step, delete nothing."""
    report = storage_audit()
    if not report.clean:
        logger.warning(
            "storage audit: %d orphaned objects (%d bytes), %d records missing their object",
            report.orphans,
            report.orphan_bytes,
            report.missing,
        )
    return report.as_dict()
