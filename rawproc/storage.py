"""Object storage for originals and renditions, and signed URLs to them.

One module wraps Django's storage API so the rest of the code never asks which backend
runs: ``FileSystemStorage`` under the data folder by default, django-storages'
``S3Storage`` when ``AWS_BUCKET_NAME`` is set. Both give the same contract:

* ``signed_url`` -> a GET URL that expires: an S3 presigned URL, or on file storage a URL
  whose token is signed by the app (key, expiry and download name under one HMAC made with
  ``SECRET_KEY``), served by ``rawproc.api.files``.
* ``presigned_upload`` -> a direct-to-storage upload form (POST, fields + ``file``) bound to
  one key and one exact size, that expires: an S3 presigned POST with a
  ``content-length-range`` condition, or an app-signed URL on file storage.

Backend failures become ``StorageUnavailable`` (callers retry) or ``ObjectNotFound``.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import shutil
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from django.core import signing
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.urls import reverse
from django.utils.http import content_disposition_header

CHUNK_BYTES = 1024 * 1024
SNIFF_BYTES = 4096
_DOWNLOAD_SALT = "rawproc.storage.download"
_UPLOAD_SALT = "rawproc.storage.upload"
_KEY_PREFIXES = ("originals/", "renditions/")


class StorageError(Exception):
    """Base class for object storage failures."""


class StorageUnavailable(StorageError):
    """The backend could not be reached or refused the request; retrying may succeed."""


class ObjectNotFound(StorageError):
    """No object is stored under the key."""


class InvalidToken(StorageError):
    """A signed file URL that was altered, belongs to another purpose, or has expired."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class UploadTarget:
    """A form upload: POST ``fields`` followed by the file in a field named ``file``."""

    method: str
    url: str
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int


@dataclass(frozen=True)
class FileGrant:
    """What a verified download token allows: one key, with response headers to use."""

    key: str
    download_name: str | None
    content_type: str | None


@dataclass(frozen=True)
class UploadGrant:
    key: str
    size: int
    content_type: str


# --- keys -------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str, max_length: int = 100) -> str:
    """An ASCII file name safe in any object store key: no path, no control characters.

    The extension is kept, the stem is shortened, so ``../../x.NEF`` becomes ``x.NEF``.
    """
    base = re.split(r"[\\/]", name)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    ext = _ascii_part(ext)[:10]
    stem = _ascii_part(stem)[: max_length - len(ext) - 1] or "upload"
    return f"{stem}.{ext}" if ext else stem


def _ascii_part(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _UNSAFE.sub("_", text).strip("._")


def original_key(owner_id: int, asset_id: object, filename: str) -> str:
    return f"originals/{owner_id}/{asset_id}/{safe_filename(filename)}"


def rendition_key(asset_id: object, spec_name: str, extension: str, version: str) -> str:
    """Each processing run writes under its own version, so a live variant is never overwritten."""
    return f"renditions/{asset_id}/{spec_name}-{version}.{extension}"


def _check_key(key: str) -> str:
    if not key.startswith(_KEY_PREFIXES) or ".." in key.split("/") or "\x00" in key:
        raise ObjectNotFound(f"invalid object key {key!r}")
    return key


# --- backend ----------------------------------------------------------------------------


def backend() -> Storage:
    return storages["default"]


def is_s3() -> bool:
    from storages.backends.s3 import S3Storage

    return isinstance(backend(), S3Storage)


def _s3_client() -> Any:
    return backend().connection.meta.client


def _signing_client() -> Any:
    """The client that signs URLs handed to clients: for the public endpoint when one is set."""
    from rawproc.s3 import PublicEndpointS3Storage

    storage = backend()
    return storage.signing_client if isinstance(storage, PublicEndpointS3Storage) else _s3_client()


def _bucket() -> str:
    return str(backend().bucket_name)


@contextmanager
def _translate_errors(key: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except FileNotFoundError as exc:
        raise ObjectNotFound(key) from exc
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NotFound"):
            raise ObjectNotFound(key) from exc
        raise StorageUnavailable(f"{key}: {exc}") from exc
    except (BotoCoreError, OSError) as exc:
        raise StorageUnavailable(f"{key}: {exc}") from exc


def save(key: str, content: bytes | IO[bytes], content_type: str | None = None) -> None:
    """Store ``content`` under exactly ``key``, replacing any object already there."""
    _check_key(key)
    wrapped = ContentFile(content) if isinstance(content, bytes) else File(content)
    wrapped.content_type = content_type or mimetypes.guess_type(key)[0]  # type: ignore[attr-defined]
    with _translate_errors(key):
        stored = backend().save(key, wrapped)
    if stored != key:
        raise StorageUnavailable(f"storage renamed {key!r} to {stored!r}")


def iter_chunks(key: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Stream an object's bytes without holding it in memory."""
    _check_key(key)
    with _translate_errors(key):
        if is_s3():
            body = _s3_client().get_object(Bucket=_bucket(), Key=key)["Body"]
            try:
                yield from body.iter_chunks(chunk_bytes)
            finally:
                body.close()
        else:
            with backend().open(key, "rb") as fh:
                while chunk := fh.read(chunk_bytes):
                    yield chunk


def download_to(key: str, target: IO[bytes]) -> None:
    """Copy an object into an open binary file (multipart ranged download on S3)."""
    _check_key(key)
    with _translate_errors(key):
        if is_s3():
            _s3_client().download_fileobj(_bucket(), key, target)
        else:
            with backend().open(key, "rb") as fh:
                shutil.copyfileobj(fh, target, CHUNK_BYTES)


def read_head(key: str, length: int = SNIFF_BYTES) -> bytes:
    _check_key(key)
    with _translate_errors(key):
        if is_s3():
            body = _s3_client().get_object(Bucket=_bucket(), Key=key, Range=f"bytes=0-{length - 1}")
            return bytes(body["Body"].read())
        with backend().open(key, "rb") as fh:
            return bytes(fh.read(length))


def sha256(key: str) -> str:
    digest = hashlib.sha256()
    for chunk in iter_chunks(key):
        digest.update(chunk)
    return digest.hexdigest()


def open_local(key: str) -> IO[bytes]:
    """Open an object of the file storage for reading (the signed download view uses it)."""
    _check_key(key)
    with _translate_errors(key):
        return backend().open(key, "rb")  # type: ignore[no-any-return]


def size(key: str) -> int:
    """Bytes stored under ``key``; ``ObjectNotFound`` when there is no such object."""
    _check_key(key)
    with _translate_errors(key):
        if is_s3():
            return int(_s3_client().head_object(Bucket=_bucket(), Key=key)["ContentLength"])
        return int(backend().size(key))


def exists(key: str) -> bool:
    try:
        size(key)
    except ObjectNotFound:
        return False
    return True


def delete(key: str) -> None:
    """Remove an object; a missing object is not an error (deletes are retried)."""
    _check_key(key)
    with _translate_errors(key):
        backend().delete(key)


def check() -> None:
    """Raise ``StorageUnavailable`` unless the bucket (or folder) is reachable and usable."""
    storage = backend()
    with _translate_errors("(health check)"):
        if is_s3():
            _s3_client().head_bucket(Bucket=_bucket())
        else:
            assert isinstance(storage, FileSystemStorage)
            location = Path(storage.location)
            location.mkdir(parents=True, exist_ok=True)
            probe = location / ".health"
            probe.write_bytes(b"ok")
            probe.unlink()


# --- signed URLs ------------------------------------------------------------------------


def _expiry(expires_in: int) -> datetime:
    now = datetime.now(UTC).replace(microsecond=0)
    return now + timedelta(seconds=expires_in)


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
    _check_key(key)
    expires_at = _expiry(expires_in)
    if is_s3():
        params: dict[str, str] = {}
        if download_name:
            params["ResponseContentDisposition"] = (
                content_disposition_header(attachment, download_name) or ""
            )
        if content_type:
            params["ResponseContentType"] = content_type
        with _translate_errors(key):
            url = backend().url(key, parameters=params or None, expire=expires_in)
        return SignedUrl(str(url), expires_at)
    payload = {
        "k": key,
        "x": int(expires_at.timestamp()),
        "n": download_name,
        "t": content_type,
        "a": attachment,
    }
    token = signing.dumps(payload, salt=_DOWNLOAD_SALT, compress=True)
    return SignedUrl(reverse("rawproc-file", args=[token]), expires_at)


def _load_token(token: str, salt: str) -> dict[str, Any]:
    try:
        payload = signing.loads(token, salt=salt)
    except signing.BadSignature:
        raise InvalidToken("invalid_signature", "The link is not valid.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("x"), int):
        raise InvalidToken("invalid_signature", "The link is not valid.")
    if datetime.now(UTC).timestamp() >= payload["x"]:
        raise InvalidToken("url_expired", "The link has expired.")
    return payload


def verify_download(token: str) -> tuple[FileGrant, bool]:
    """Check a download token (signature, then expiry); return the grant and attachment flag."""
    payload = _load_token(token, _DOWNLOAD_SALT)
    grant = FileGrant(_check_key(str(payload["k"])), payload.get("n"), payload.get("t"))
    return grant, bool(payload.get("a"))


def presigned_upload(key: str, size_bytes: int, content_type: str, expires_in: int) -> UploadTarget:
    """A direct upload of exactly ``size_bytes`` to ``key``, valid for ``expires_in`` seconds."""
    _check_key(key)
    expires_at = _expiry(expires_in)
    if is_s3():
        with _translate_errors(key):
            post = _signing_client().generate_presigned_post(
                Bucket=_bucket(),
                Key=key,
                Fields={"Content-Type": content_type},
                Conditions=[
                    {"Content-Type": content_type},
                    ["content-length-range", size_bytes, size_bytes],
                ],
                ExpiresIn=expires_in,
            )
        return UploadTarget("POST", post["url"], dict(post["fields"]), expires_at, size_bytes)
    payload = {"k": key, "s": size_bytes, "t": content_type, "x": int(expires_at.timestamp())}
    token = signing.dumps(payload, salt=_UPLOAD_SALT, compress=True)
    return UploadTarget("POST", reverse("rawproc-upload", args=[token]), {}, expires_at, size_bytes)


def verify_upload(token: str) -> UploadGrant:
    payload = _load_token(token, _UPLOAD_SALT)
    return UploadGrant(_check_key(str(payload["k"])), int(payload["s"]), str(payload["t"]))
