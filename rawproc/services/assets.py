"""Creating assets from multipart uploads, deduplicating them, deleting them, and the
per-user storage quota."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from rawproc import storage
from rawproc.models import Asset
from rawproc.selectors import user_storage_used
from rawproc.services.errors import EmptyUpload, QuotaExceeded, UnsupportedUpload, UploadTooLarge
from rawproc.services.processing import asset_enqueue
from rawproc.webhooks.services import ASSET_DELETED, webhook_event_emit

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


def quota_check(*, owner_id: int, adding: int, lock: bool = False) -> None:
    """``QuotaExceeded`` when ``adding`` more bytes would take the owner past
    ``RAWPROC_USER_QUOTA_BYTES`` (unset or 0: no quota).

    With ``lock`` (inside a transaction) the owner's row is locked first, so concurrent
    uploads of one user are counted one after the other and cannot overshoot together.
    """
    quota = settings.RAWPROC_USER_QUOTA_BYTES
    if not quota:
        return
    if lock:
        get_user_model().objects.select_for_update().filter(pk=owner_id).first()
    used = user_storage_used(owner_id=owner_id)
    if used + adding > quota:
        raise QuotaExceeded(
            f"This upload of {adding} bytes would exceed the storage quota: "
            f"{used} of {quota} bytes are in use."
        )


def raw_family(head: bytes, filename: str) -> str:
    """The RAW family from a file's first bytes; ``UnsupportedUpload`` when it is not RAW."""
    # Loaded at the first upload, not at start: the reader brings numpy and LibRaw.
    from rawproc.imaging.rawfile import describe_content, sniff_format

    family = sniff_format(head)
    if family is None:
        raise UnsupportedUpload(f"{filename}: not a camera RAW file ({describe_content(head)}).")
    return family


def upload_sha256(file: UploadedFile) -> str:
    """The file's sha256: the one the upload handler computed while the body streamed in
    (``rawproc.api.uploads``), else read through once."""
    known = getattr(file, "sha256", None)
    if isinstance(known, str):
        return known
    file.seek(0)
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    return digest.hexdigest()


def asset_create(*, owner: User, file: UploadedFile) -> tuple[Asset, bool]:
    """Store an uploaded RAW file and queue it; returns ``(asset, created)``.

    The same bytes uploaded again by the same owner return the existing asset with
    ``created=False``; nothing is stored twice.
    """
    filename = display_filename(file.name or "")
    check_upload_size(int(file.size or 0))
    file.seek(0)
    family = raw_family(file.read(storage.SNIFF_BYTES), filename)
    sha256 = upload_sha256(file)
    existing = Asset.objects.filter(owner=owner, sha256=sha256).first()
    if existing is not None:
        return existing, False
    quota_check(owner_id=owner.pk, adding=int(file.size or 0))

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
    # What the worker checks before decoding: the original is still this object.
    asset.original_etag = storage.stat(asset.storage_key).etag
    try:
        with transaction.atomic():
            quota_check(owner_id=owner.pk, adding=asset.size, lock=True)
            asset.save(force_insert=True)
            asset_enqueue(asset)
    except IntegrityError:
        # The same bytes were uploaded concurrently and the other request won.
        storage.delete(asset.storage_key)
        return Asset.objects.get(owner=owner, sha256=sha256), False
    except QuotaExceeded:
        storage.delete(asset.storage_key)
        raise
    return asset, True


def asset_delete(*, asset: Asset) -> None:
    """Delete every stored object of the asset (original, incoming upload, renditions),
    then its records.

    Objects go first: if storage is down the asset stays and the delete can be retried
    (deleting a missing object is not an error). Whole prefixes are removed, so an object
    written by a run or an upload that no record names yet goes too.
    """
    for prefix in storage.asset_prefixes(asset.owner_id, asset.pk):
        storage.delete_prefix(prefix)
    for key in (asset.storage_key, asset.upload_key):
        if key:
            storage.delete(key)
    with transaction.atomic():
        deleted, _ = Asset.objects.filter(pk=asset.pk).delete()
        if deleted:
            webhook_event_emit(asset, ASSET_DELETED)
