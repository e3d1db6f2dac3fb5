"""The embedded storage: objects are files under one folder, served by the app itself.

Downloads and uploads go through the app's own views (``rawproc.api.files``) with
app-signed tokens (``rawproc.storage.tokens``), as S3 presigned URLs would. A move is a
rename inside the folder; an object's etag is its modification time and size, which any
rewrite changes.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage
from django.urls import reverse

from rawproc.storage import tokens
from rawproc.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    SignedUrl,
    StorageUnavailable,
    UploadTarget,
    expiry,
)


@contextmanager
def _translate_errors(key: str) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError as exc:
        raise ObjectNotFound(key) from exc
    except OSError as exc:
        raise StorageUnavailable(f"{key}: {exc}") from exc


class FileStore(ObjectStore):
    def __init__(self, storage: FileSystemStorage) -> None:
        self.storage = storage
        self.location = Path(storage.location)

    def _path(self, key: str) -> Path:
        return Path(self.storage.path(key))

    def save(self, key: str, content: bytes | IO[bytes], content_type: str | None) -> None:
        wrapped = ContentFile(content) if isinstance(content, bytes) else File(content)
        with _translate_errors(key):
            stored = self.storage.save(key, wrapped)
        if stored != key:
            raise StorageUnavailable(f"storage renamed {key!r} to {stored!r}")

    def iter_chunks(self, key: str, chunk_bytes: int) -> Iterator[bytes]:
        with _translate_errors(key), self.storage.open(key, "rb") as fh:
            while chunk := fh.read(chunk_bytes):
                yield chunk

    def download_to(self, key: str, target: IO[bytes]) -> None:
        with _translate_errors(key), self.storage.open(key, "rb") as fh:
            shutil.copyfileobj(fh, target, 1024 * 1024)

    def read_head(self, key: str, length: int) -> bytes:
        with _translate_errors(key), self.storage.open(key, "rb") as fh:
            return bytes(fh.read(length))

    def open(self, key: str) -> IO[bytes]:
        with _translate_errors(key):
            return self._path(key).open("rb")

    def stat(self, key: str) -> ObjectInfo:
        with _translate_errors(key):
            st = self._path(key).stat()
        if not stat.S_ISREG(st.st_mode):  # a folder is not an object
            raise ObjectNotFound(key)
        return self._info(key, st)

    @staticmethod
    def _info(key: str, st: os.stat_result) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=st.st_size,
            etag=f"{st.st_mtime_ns:x}-{st.st_size:x}",
            modified=datetime.fromtimestamp(st.st_mtime, UTC),
        )

    def delete(self, key: str) -> None:
        with _translate_errors(key):
            self.storage.delete(key)

    def move(self, source: str, target: str) -> ObjectInfo:
        with _translate_errors(source):
            destination = self._path(target)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._path(source), destination)
        return self.stat(target)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        root = self.location.resolve()
        start = Path(self.storage.path(prefix.rstrip("/") or "."))
        if not start.is_dir():
            return
        with _translate_errors(prefix):
            for directory, _, names in os.walk(start):
                for name in names:
                    path = Path(directory) / name
                    key = path.relative_to(root).as_posix()
                    try:
                        st = path.stat()
                    except FileNotFoundError:  # removed while the folder was walked
                        continue
                    if key.startswith(prefix):
                        yield self._info(key, st)

    def check(self) -> None:
        with _translate_errors("(health check)"):
            self.location.mkdir(parents=True, exist_ok=True)
            probe = self.location / ".health"
            probe.write_bytes(b"ok")
            probe.unlink()

    def prepare(self, *, create: bool) -> str:
        # The data folder is the app's own: it is made whether or not ``create`` is set.
        self.check()
        return f"folder {str(self.location)!r} is writable"

    def signed_url(
        self,
        key: str,
        expires_in: int,
        *,
        download_name: str | None,
        content_type: str | None,
        attachment: bool,
    ) -> SignedUrl:
        """A path (``/files/<token>/``); the API makes it absolute."""
        expires_at = expiry(expires_in)
        token = tokens.download_token(
            key,
            expires_at,
            download_name=download_name,
            content_type=content_type,
            attachment=attachment,
        )
        return SignedUrl(reverse("rawproc-file", args=[token]), expires_at)

    def grant_upload(
        self, key: str, size_bytes: int, content_type: str, expires_in: int
    ) -> UploadTarget:
        expires_at = expiry(expires_in)
        token = tokens.upload_token(key, size_bytes, content_type, expires_at)
        url = reverse("rawproc-upload", args=[token])
        return UploadTarget("POST", url, {}, expires_at, size_bytes)
