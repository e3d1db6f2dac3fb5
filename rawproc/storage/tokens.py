"""App-signed tokens: what an S3 presigned URL is, for storage that has no signer of its own.

A download token names one object key, its expiry and response headers; an upload token
names one key and one exact size. Both are signed with ``SECRET_KEY`` under their own salt,
so one never passes for the other. Anything altered or expired raises ``InvalidToken``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core import signing

from rawproc.storage.base import InvalidToken
from rawproc.storage.keys import check_key

_DOWNLOAD_SALT = "rawproc.storage.download"
_UPLOAD_SALT = "rawproc.storage.upload"


@dataclass(frozen=True)
class FileGrant:
    """What a verified download token allows: one key, with response headers to use."""

    key: str
    download_name: str | None
    content_type: str | None
    attachment: bool


@dataclass(frozen=True)
class UploadGrant:
    """What a verified upload token allows: one write of exactly ``size`` bytes to ``key``."""

    key: str
    size: int
    content_type: str


def download_token(
    key: str,
    expires_at: datetime,
    *,
    download_name: str | None,
    content_type: str | None,
    attachment: bool,
) -> str:
    payload = {
        "k": key,
        "x": int(expires_at.timestamp()),
        "n": download_name,
        "t": content_type,
        "a": attachment,
    }
    return str(signing.dumps(payload, salt=_DOWNLOAD_SALT, compress=True))


def upload_token(key: str, size_bytes: int, content_type: str, expires_at: datetime) -> str:
    payload = {"k": key, "s": size_bytes, "t": content_type, "x": int(expires_at.timestamp())}
    return str(signing.dumps(payload, salt=_UPLOAD_SALT, compress=True))


def _load(token: str, salt: str) -> dict[str, Any]:
    try:
        payload = signing.loads(token, salt=salt)
    except signing.BadSignature:
        raise InvalidToken("invalid_signature", "The link is not valid.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("x"), int):
        raise InvalidToken("invalid_signature", "The link is not valid.")
    if datetime.now(UTC).timestamp() >= payload["x"]:
        raise InvalidToken("url_expired", "The link has expired.")
    return payload


def verify_download(token: str) -> FileGrant:
    """Check a download token (signature, then expiry) and return what it grants."""
    payload = _load(token, _DOWNLOAD_SALT)
    return FileGrant(
        check_key(str(payload["k"])), payload.get("n"), payload.get("t"), bool(payload.get("a"))
    )


def verify_upload(token: str) -> UploadGrant:
    """Check an upload token (signature, then expiry) and return what it grants."""
    payload = _load(token, _UPLOAD_SALT)
    return UploadGrant(check_key(str(payload["k"])), int(payload["s"]), str(payload["t"]))
