"""Creating assets from multipart uploads, deduplicating them, and deleting them."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from rawproc import storage
from rawproc.imaging.rawfile import describe_content, sniff_format
from rawproc.models import Asset
from rawproc.services.errors import EmptyUpload, UnsupportedUpload, UploadTooLarge
from rawproc.services.processing import asset_enqueue

# The sniffed family decides the stored content type; the client's claim is not trusted.
RAW_CONTENT_TYPES: dict[str, str] = {
    "CR2": "image/x-canon-cr2",
    "CR3": "image/x-canon-cr3",
    "CRW": "image/x-canon-crw",
    "NEF": "image/x-nikon-nef",
    "ARW": "image/x-sony-arw",
    "DNG": "image/x-adobe-dng",
    "ORF": "image/x-olympus-orf",
    "RW2": "image/x-panasonic-rw2",
    "RAF": "image/x-fuji-raf",
    "PEF": "image/x-pentax-pef",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def display_filename(name: str) -> str:
    """The user's file name without any path or control characters, at most 255 characters."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", name))[-1]
    base = _CONTROL.sub("", base).strip()
    if len(base) > 255:
        stem, dot, ext = base.rpartition(".")
        base = f"{stem[: 254 - len(ext)]}.{ext}" if dot and len(ext) <= 10 else base[:255]
    return base or "upload"


def check_upload_size(size: int) -> None:
    if size > settings.RAWPROC_MAX_UPLOAD_BYTES:
        raise UploadTooLarge(
            f"The file has {size} bytes; the limit is {settings.RAWPROC_MAX_UPLOAD_BYTES}."
        )
    if size <= 0:
        raise EmptyUpload("The file is empty.")


def raw_family(head: bytes, filename: str) -> str:
    """The RAW family from a file's first bytes; ``UnsupportedUpload`` when it is not RAW."""
    family = sniff_format(head)
    if family is None:
        raise UnsupportedUpload(f"{filename}: not a camera RAW file ({describe_content(head)}).")
    return family


def asset_create(*, owner: User, file: UploadedFile) -> tuple[Asset, bool]:
    """Store an uploaded RAW file and queue it; returns ``(asset, created)``.

    The same bytes uploaded again by the same owner return the existing asset with
    ``created=False``; nothing is stored twice.
    """
    filename = display_filename(file.name or "")
    check_upload_size(int(file.size or 0))
    file.seek(0)
    family = raw_family(file.read(storage.SNIFF_BYTES), filename)
    file.seek(0)
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    sha256 = digest.hexdigest()
    existing = Asset.objects.filter(owner=owner, sha256=sha256).first()
    if existing is not None:
        return existing, False

    asset = Asset(
        id=uuid.uuid4(),
        owner=owner,
        original_filename=filename,
        size=int(file.size or 0),
        content_type=RAW_CONTENT_TYPES.get(family, "application/octet-stream"),
        raw_format=family,
        sha256=sha256,
    )
    asset.storage_key = storage.original_key(owner.pk, asset.id, filename)
    file.seek(0)
    # The object is written before the row, so a committed row never lacks its original.
    storage.save(asset.storage_key, file, asset.content_type)
    try:
        with transaction.atomic():
            asset.save(force_insert=True)
            asset_enqueue(asset)
    except IntegrityError:
        # The same bytes were uploaded concurrently and the other request won.
        storage.delete(asset.storage_key)
        return Asset.objects.get(owner=owner, sha256=sha256), False
    return asset, True


def asset_delete(*, asset: Asset) -> None:
    """Delete the asset's stored objects, then its records.

    Objects go first: if storage is down the asset stays and the delete can be retried
    (deleting a missing object is not an error).
    """
    keys = [asset.storage_key, *asset.variants.values_list("storage_key", flat=True)]
    for key in keys:
        storage.delete(key)
    Asset.objects.filter(pk=asset.pk).delete()


def asset_adopt_content(*, asset: Asset, sha256: str) -> tuple[Asset, bool]:
    """Record the content hash of a completed direct upload and queue it, or return the
    owner's existing asset with the same content (deleting this duplicate)."""
    existing = (
        Asset.objects.filter(owner_id=asset.owner_id, sha256=sha256).exclude(pk=asset.pk).first()
    )
    if existing is None:
        try:
            with transaction.atomic():
                asset.sha256 = sha256
                asset.save(update_fields=["sha256", "raw_format", "content_type", "updated_at"])
                asset_enqueue(asset)
            return asset, True
        except IntegrityError:
            existing = Asset.objects.get(owner_id=asset.owner_id, sha256=sha256)
    storage.delete(asset.storage_key)
    Asset.objects.filter(pk=asset.pk).delete()
    return existing, False
