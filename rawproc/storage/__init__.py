"""Object storage for originals and renditions, and signed URLs to them.

The rest of the app calls the functions of this module only; each checks the key and
hands the call to the configured backend, an ``ObjectStore`` chosen once from Django's
``STORAGES["default"]``:

* ``FileStore`` (``rawproc.storage.files``): files under the data folder, served through
  app-signed URLs (``rawproc.storage.tokens``) by ``rawproc.api.files``;
* ``S3Store`` (``rawproc.storage.s3``): any S3-compatible bucket, with presigned URLs and
  server-side copies.

Originals are immutable once completed: a direct-upload grant only ever names an
``incoming/`` key, and completing the upload moves the object to the asset's original key,
which no client credential can write.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Iterator
from typing import IO

from django.core.files.storage import FileSystemStorage, storages

from rawproc.storage.base import (
    CHUNK_BYTES,
    SNIFF_BYTES,
    InvalidToken,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    SignedUrl,
    StorageError,
    StorageUnavailable,
    UploadTarget,
)
from rawproc.storage.files import FileStore
from rawproc.storage.keys import (
    INCOMING,
    PREFIXES,
    asset_prefixes,
    check_key,
    incoming_key,
    original_key,
    rendition_key,
    safe_filename,
)
from rawproc.storage.tokens import FileGrant, UploadGrant, verify_download, verify_upload

__all__ = [
    "CHUNK_BYTES",
    "INCOMING",
    "PREFIXES",
    "SNIFF_BYTES",
    "FileGrant",
    "InvalidToken",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "SignedUrl",
    "StorageError",
    "StorageUnavailable",
    "UploadGrant",
    "UploadTarget",
    "asset_prefixes",
    "backend",
    "check",
    "delete",
    "delete_prefix",
    "download_to",
    "exists",
    "grant_upload",
    "incoming_key",
    "iter_chunks",
    "list_objects",
    "move",
    "open_object",
    "original_key",
    "prepare",
    "read_head",
    "rendition_key",
    "safe_filename",
    "save",
    "sha256",
    "signed_url",
    "size",
    "stat",
    "verify_download",
    "verify_upload",
]


def backend() -> ObjectStore:
    """The configured store, wrapping Django's default storage (re-read on every call, so a
    settings change in tests takes effect at once)."""
    storage = storages["default"]
    if isinstance(storage, FileSystemStorage):
        return FileStore(storage)
    from storages.backends.s3 import S3Storage

    if isinstance(storage, S3Storage):
        from rawproc.storage.s3 import S3Store

        return S3Store(storage)
    raise StorageUnavailable(f"unsupported storage backend {type(storage).__name__}")


def save(key: str, content: bytes | IO[bytes], content_type: str | None = None) -> None:
    """Store ``content`` under exactly ``key``, replacing any object already there."""
    backend().save(check_key(key), content, content_type or mimetypes.guess_type(key)[0])


def iter_chunks(key: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Stream an object's bytes without holding it in memory."""
    return backend().iter_chunks(check_key(key), chunk_bytes)


def download_to(key: str, target: IO[bytes]) -> None:
    """Copy an object into an open binary file."""
    backend().download_to(check_key(key), target)


def read_head(key: str, length: int = SNIFF_BYTES) -> bytes:
    return backend().read_head(check_key(key), length)


def open_object(key: str) -> IO[bytes]:
    """Open an object for reading (the signed download view of the file storage uses it)."""
    return backend().open(check_key(key))


def sha256(key: str) -> str:
    digest = hashlib.sha256()
    for chunk in iter_chunks(key):
        digest.update(chunk)
    return digest.hexdigest()


def stat(key: str) -> ObjectInfo:
    """Size and etag of an object; ``ObjectNotFound`` when there is none."""
    return backend().stat(check_key(key))


def size(key: str) -> int:
    """Bytes stored under ``key``; ``ObjectNotFound`` when there is no such object."""
    return stat(key).size


def exists(key: str) -> bool:
    try:
        stat(key)
    except ObjectNotFound:
        return False
    return True


def delete(key: str) -> None:
    """Remove an object; a missing object is not an error (deletes are retried)."""
    backend().delete(check_key(key))


def delete_prefix(prefix: str) -> int:
    """Remove every object under ``prefix``; returns how many there were."""
    store = backend()
    keys = [info.key for info in store.list(check_key(prefix))]
    for key in keys:
        store.delete(key)
    return len(keys)


def move(source: str, target: str) -> ObjectInfo:
    """Move an object inside the store (no bytes through the app); returns its new state."""
    return backend().move(check_key(source), check_key(target))


def list_objects(prefix: str) -> Iterator[ObjectInfo]:
    """Every object under ``prefix`` (one of the app's prefixes)."""
    return backend().list(check_key(prefix))


def check() -> None:
    """Raise ``StorageUnavailable`` unless the bucket (or folder) is reachable and usable."""
    backend().check()


def prepare(*, create: bool) -> str:
    """Make sure the store can be used (see ``ObjectStore.prepare``); the release step."""
    return backend().prepare(create=create)


def signed_url(
    key: str,
    expires_in: int,
    *,
    download_name: str | None = None,
    content_type: str | None = None,
    attachment: bool = False,
) -> SignedUrl:
    """A GET URL for one object that stops working after ``expires_in`` seconds.

    File storage gives a path (``/files/<token>/``); the API makes it absolute.
    """
    return backend().signed_url(
        check_key(key),
        expires_in,
        download_name=download_name,
        content_type=content_type,
        attachment=attachment,
    )


def grant_upload(key: str, size_bytes: int, content_type: str, expires_in: int) -> UploadTarget:
    """A direct upload of exactly ``size_bytes`` to ``key``, valid for ``expires_in`` seconds."""
    return backend().grant_upload(check_key(key), size_bytes, content_type, expires_in)
