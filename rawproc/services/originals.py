"""The worker's side of an original: fetch it, prove it is the one that was completed, and
deduplicate it.

Completion records the original's size and etag; before anything decodes, the worker checks
that the stored object still has both and that it received exactly that many bytes
(and, when the API hashed a multipart upload, the same sha256). A mismatch fails the asset
with ``original_changed``. The sha256 is computed here, not in the API request; when the
owner already has an asset with the same content, this one becomes a duplicate: it is
marked failed with the code ``duplicate``, points to the other asset (``duplicate_of``),
and its copy of the bytes is dropped.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils import timezone

from rawproc import storage
from rawproc.models import DUPLICATE, Asset, AssetStatus
from rawproc.webhooks.services import ASSET_FAILED, webhook_event_emit

logger = logging.getLogger(__name__)


class OriginalChanged(Exception):
    """The stored original is not the object that was completed."""

    code = "original_changed"


class DuplicateOriginal(Exception):
    """The asset repeated another of the owner's assets and was marked as its duplicate."""


def original_fetch(asset: Asset, path: Path) -> str:
    """Download the asset's original to ``path`` after checking it; return its sha256,
    computed while the bytes arrive."""
    info = storage.stat(asset.storage_key)
    if info.size != asset.size:
        raise OriginalChanged(f"The original has {info.size} bytes; {asset.size} were completed.")
    if asset.original_etag and info.etag != asset.original_etag:
        raise OriginalChanged(
            f"The original was rewritten after it was completed "
            f"(etag {info.etag}, completed as {asset.original_etag})."
        )
    # One pass: each chunk is hashed and counted as it is written, so the file is never
    # read back (one streamed GET was faster here than a ranged download plus a re-read).
    digest = hashlib.sha256()
    received = 0
    with path.open("wb") as fh:
        for chunk in storage.iter_chunks(asset.storage_key):
            digest.update(chunk)
            received += len(chunk)
            fh.write(chunk)
    if received != asset.size:
        raise OriginalChanged(f"{received} bytes were read; {asset.size} were completed.")
    sha256 = digest.hexdigest()
    if asset.sha256 and asset.sha256 != sha256:
        raise OriginalChanged("The original's content differs from what was uploaded.")
    return sha256


def original_adopt(asset: Asset, task_id: str, sha256: str) -> None:
    """Record the content hash, or mark the asset a duplicate and raise ``DuplicateOriginal``.

    Does nothing when the job was superseded meanwhile (its results are dropped anyway).
    """
    if asset.sha256 == sha256:
        return
    with transaction.atomic():
        locked = Asset.objects.select_for_update().filter(pk=asset.pk).first()
        if locked is None or locked.task_id != task_id:
            return
        existing = _same_content(locked, sha256)
        if existing is None:
            try:
                with transaction.atomic():
                    Asset.objects.filter(pk=locked.pk).update(sha256=sha256)
            except IntegrityError:  # the same content was adopted concurrently
                existing = _same_content(locked, sha256)
            else:
                asset.sha256 = sha256
                return
        dropped = locked.storage_key
        _mark_duplicate(locked, existing)
    try:
        storage.delete(dropped)
    except storage.StorageError as exc:  # an orphan the storage audit finds
        logger.warning("duplicate %s: original %s not removed: %s", asset.pk, dropped, exc)
    raise DuplicateOriginal(str(asset.pk))


def _same_content(asset: Asset, sha256: str) -> Asset | None:
    return Asset.objects.filter(owner_id=asset.owner_id, sha256=sha256).exclude(pk=asset.pk).first()


def _mark_duplicate(asset: Asset, existing: Asset | None) -> None:
    asset.duplicate_of = existing
    asset.status = AssetStatus.FAILED
    asset.error_code = DUPLICATE
    name = existing.original_filename if existing is not None else "another asset"
    asset.error_message = (
        f"The same file as {name} ({existing.pk if existing else 'deleted'}), already in "
        "the library; this copy was not kept."
    )
    asset.storage_key = ""
    asset.processed_at = timezone.now()
    asset.save()
    webhook_event_emit(asset, ASSET_FAILED)
