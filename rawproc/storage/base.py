"""The one interface every object storage backend implements, and what it returns.

A backend stores objects under keys, signs downloads, grants direct uploads and moves
objects its own way; nothing outside ``rawproc.storage`` knows which backend runs.
Failures become ``StorageUnavailable`` (callers retry) or ``ObjectNotFound``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO

CHUNK_BYTES = 1024 * 1024
SNIFF_BYTES = 4096


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
class ObjectInfo:
    """One stored object: its size, an ``etag`` that changes whenever its bytes are
    rewritten (S3's ETag; on file storage the modification time and size), and when it
    was last written."""

    key: str
    size: int
    etag: str
    modified: datetime


def expiry(expires_in: int) -> datetime:
    """The moment, to the second, ``expires_in`` seconds from now."""
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=expires_in)


class ObjectStore(abc.ABC):
    """Objects under keys (checked by the caller, ``rawproc.storage``), and signed access."""

    @abc.abstractmethod
    def save(self, key: str, content: bytes | IO[bytes], content_type: str | None) -> None:
        """Store ``content`` under exactly ``key``, replacing any object already there."""

    @abc.abstractmethod
    def iter_chunks(self, key: str, chunk_bytes: int) -> Iterator[bytes]:
        """Stream an object's bytes without holding it in memory."""

    @abc.abstractmethod
    def download_to(self, key: str, target: IO[bytes]) -> None:
        """Copy an object into an open binary file."""

    @abc.abstractmethod
    def read_head(self, key: str, length: int) -> bytes:
        """The first ``length`` bytes of an object (fewer when it is shorter)."""

    @abc.abstractmethod
    def open(self, key: str) -> IO[bytes]:
        """Open an object for reading; the caller closes it."""

    @abc.abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Size and version of an object; ``ObjectNotFound`` when there is none."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; a missing object is not an error (deletes are retried)."""

    @abc.abstractmethod
    def move(self, source: str, target: str) -> ObjectInfo:
        """Move an object to another key inside the store, without the bytes passing
        through this process; returns the object at its new key."""

    @abc.abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise ``StorageUnavailable`` unless the store is reachable and writable."""

    @abc.abstractmethod
    def prepare(self, *, create: bool) -> str:
        """Make sure the store can be used, once per release: a missing bucket (or folder)
        is made only when ``create`` is true, else ``StorageUnavailable`` is raised. Returns
        a line for the operator saying what was found or made."""

    @abc.abstractmethod
    def signed_url(
        self,
        key: str,
        expires_in: int,
        *,
        download_name: str | None,
        content_type: str | None,
        attachment: bool,
    ) -> SignedUrl:
        """A GET URL for one object that stops working after ``expires_in`` seconds."""

    @abc.abstractmethod
    def grant_upload(
        self, key: str, size_bytes: int, content_type: str, expires_in: int
    ) -> UploadTarget:
        """A direct upload form that writes exactly ``size_bytes`` to ``key`` and nowhere
        else, valid for ``expires_in`` seconds."""
