"""Direct-to-storage uploads: the client sends the bytes to storage, not through the API.

``upload_create`` reserves an asset in ``uploading`` and returns an expiring upload form
bound to its key and declared size; ``upload_complete`` checks what was stored (present,
same size, a RAW signature), deduplicates it and queues it.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from rawproc import storage
from rawproc.models import Asset, AssetStatus
from rawproc.services.assets import (
    RAW_CONTENT_TYPES,
    asset_adopt_content,
    check_upload_size,
    display_filename,
    raw_family,
)
from rawproc.services.errors import UnsupportedUpload, UploadIncomplete, UploadSizeMismatch


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
    target = storage.presigned_upload(
        asset.storage_key,
        size,
        asset.content_type,
        settings.RAWPROC_UPLOAD_URL_EXPIRY_SECONDS,
    )
    asset.save(force_insert=True)
    return asset, target


def upload_complete(*, asset: Asset) -> tuple[Asset, bool]:
    """Check and queue a direct upload; returns ``(asset, created)`` like ``asset_create``.

    Calling it again on an asset already queued or processed is harmless and returns it.
    """
    if asset.status != AssetStatus.UPLOADING:
        return asset, False
    try:
        stored = storage.size(asset.storage_key)
    except storage.ObjectNotFound:
        raise UploadIncomplete("Nothing has been uploaded for this asset yet.") from None
    if stored != asset.size:
        raise UploadSizeMismatch(f"{stored} bytes were stored but {asset.size} were declared.")
    try:
        family = raw_family(storage.read_head(asset.storage_key), asset.original_filename)
    except UnsupportedUpload:
        storage.delete(asset.storage_key)
        with transaction.atomic():
            Asset.objects.filter(pk=asset.pk).delete()
        raise
    asset.raw_format = family
    asset.content_type = RAW_CONTENT_TYPES.get(family, "application/octet-stream")
    return asset_adopt_content(asset=asset, sha256=storage.sha256(asset.storage_key))
