"""Direct-to-storage uploads: the client sends the bytes to storage, not through the API.

``upload_create`` reserves an asset in ``uploading`` and returns an expiring upload form
bound to a fresh ``incoming/`` key and the declared size. ``upload_complete`` checks what
was stored (present, same size, a RAW signature) under a row lock, moves it to the
asset's original key, which no client credential can write, and queues it once; the
worker then verifies, hashes and deduplicates it. On the embedded storage the app
receives the upload itself (``upload_receive``), and a grant writes only once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from rawproc import storage
from rawproc.models import Asset, AssetStatus
from rawproc.services.assets import (
    RAW_CONTENT_TYPES,
    asset_delete,
    check_upload_size,
    display_filename,
    quota_check,
    raw_family,
)
from rawproc.services.errors import (
    UnsupportedUpload,
    UploadAlreadyWritten,
    UploadGone,
    UploadIncomplete,
    UploadSizeMismatch,
)
from rawproc.services.processing import asset_enqueue

logger = logging.getLogger(__name__)
SWEEP_BATCH = 500


def upload_create(
    *, owner: User, filename: str, size: int, content_type: str
) -> tuple[Asset, storage.UploadTarget]:
    check_upload_size(size)
    name = display_filename(filename)
    asset = Asset(
        id=uuid.uuid4(),
        owner=owner,
        original_filename=name,
        size=size,
        content_type=content_type or "application/octet-stream",
        status=AssetStatus.UPLOADING,
    )
    asset.storage_key = storage.original_key(owner.pk, asset.id, name)
    asset.upload_key = storage.incoming_key(asset.id)
    target = storage.grant_upload(
        asset.upload_key,
        size,
        asset.content_type,
        settings.RAWPROC_UPLOAD_URL_EXPIRY_SECONDS,
    )
    with transaction.atomic():
        quota_check(owner_id=owner.pk, adding=size, lock=True)
        asset.save(force_insert=True)
    return asset, target


def upload_receive(*, grant: storage.UploadGrant, content: IO[bytes]) -> None:
    """Write the one object an embedded-storage upload grant allows, once.

    The grant is spent by its first successful write (``upload_written_at``); any later
    write with it is refused with ``UploadAlreadyWritten``, and a write for a reservation
    that no longer exists with ``UploadGone``.
    """
    asset_id = _grant_asset_id(grant.key)
    if asset_id is None:
        raise UploadGone("This upload no longer exists (refused, deleted or expired).")
    written_at = timezone.now()
    claimed = Asset.objects.filter(
        pk=asset_id,
        upload_key=grant.key,
        status=AssetStatus.UPLOADING,
        upload_written_at__isnull=True,
    ).update(upload_written_at=written_at)
    if not claimed:
        if Asset.objects.filter(pk=asset_id, upload_key=grant.key).exists():
            raise UploadAlreadyWritten("This upload was already written; it cannot be replaced.")
        raise UploadGone("This upload no longer exists (refused, deleted or expired).")
    try:
        storage.save(grant.key, content, grant.content_type)
    except Exception:
        # Not written after all: the grant may be used again.
        Asset.objects.filter(pk=asset_id, upload_written_at=written_at).update(
            upload_written_at=None
        )
        raise


def _grant_asset_id(key: str) -> uuid.UUID | None:
    """The asset an incoming key belongs to (``incoming/<asset>/<random>``)."""
    parts = key.split("/")
    if len(parts) != 3 or f"{parts[0]}/" != storage.INCOMING:
        return None
    try:
        return uuid.UUID(parts[1])
    except ValueError:
        return None


def upload_complete(*, asset: Asset) -> tuple[Asset, bool]:
    """Check, move and queue a direct upload; returns ``(asset, queued_now)``.

    The row is locked, so of concurrent completions exactly one queues the asset; calling
    it again on an asset already queued or processed is harmless and returns it. A file
    that is not RAW is refused and the reservation with every object of it removed.
    """
    with transaction.atomic():
        locked = Asset.objects.select_for_update().filter(pk=asset.pk).first()
        if locked is None:
            raise UploadGone("This upload no longer exists.")
        if locked.status != AssetStatus.UPLOADING:
            return locked, False
        received, source = _received(locked)
        if received.size != locked.size:
            raise UploadSizeMismatch(
                f"{received.size} bytes were stored but {locked.size} were declared."
            )
        try:
            family = raw_family(storage.read_head(source), locked.original_filename)
        except UnsupportedUpload as exc:
            refused = exc
        else:
            if source != locked.storage_key:
                received = storage.move(source, locked.storage_key)
            locked.raw_format = family
            locked.content_type = RAW_CONTENT_TYPES.get(family, "application/octet-stream")
            locked.original_etag = received.etag
            locked.save(update_fields=["raw_format", "content_type", "original_etag"])
            asset_enqueue(locked)
            return locked, True
    asset_delete(asset=locked)
    raise refused


def _received(asset: Asset) -> tuple[storage.ObjectInfo, str]:
    """The uploaded object and its key: at the incoming key, or already at the original
    key when an earlier completion moved it but did not commit."""
    for key in (asset.upload_key, asset.storage_key):
        if key:
            try:
                return storage.stat(key), key
            except storage.ObjectNotFound:
                continue
    raise UploadIncomplete("Nothing has been uploaded for this asset yet.")


def upload_expire(*, now: datetime | None = None) -> int:
    """Remove reservations left in ``uploading`` for ``RAWPROC_UPLOAD_TTL_SECONDS``, with
    every object of theirs; returns how many were removed."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.RAWPROC_UPLOAD_TTL_SECONDS)
    with transaction.atomic():
        # Locked ones are being completed right now: not abandoned.
        expired = list(
            Asset.objects.select_for_update(skip_locked=True).filter(
                status=AssetStatus.UPLOADING, created_at__lt=cutoff
            )[:SWEEP_BATCH]
        )
        Asset.objects.filter(pk__in=[asset.pk for asset in expired]).delete()
    for asset in expired:
        try:
            for prefix in storage.asset_prefixes(asset.owner_id, asset.pk):
                storage.delete_prefix(prefix)
        except storage.StorageError as exc:  # the audit finds what is left
            logger.warning("expired upload %s: objects not removed: %s", asset.pk, exc)
    if expired:
        logger.info("removed %d abandoned uploads", len(expired))
    return len(expired)
