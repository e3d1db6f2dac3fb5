"""S3-compatible object storage (AWS S3, R2, Spaces, SeaweedFS, MinIO) through django-storages.

Downloads are S3 presigned GET URLs; uploads are presigned POST forms bound to one key
and one exact size (``content-length-range``); a move is a server-side copy followed by a
delete of the source, so the bytes never pass through the app.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

from django.core.files.base import ContentFile, File
from django.utils.http import content_disposition_header

from rawproc.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    SignedUrl,
    StorageUnavailable,
    UploadTarget,
    expiry,
)

# Objects up to this size are copied in one request; S3 refuses single copies over 5 GiB.
_SINGLE_COPY_BYTES = 5 * 1024**3


@contextmanager
def _translate_errors(key: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            raise ObjectNotFound(key) from exc
        raise StorageUnavailable(f"{key}: {exc}") from exc
    except (BotoCoreError, OSError) as exc:
        raise StorageUnavailable(f"{key}: {exc}") from exc


class S3Store(ObjectStore):
    def __init__(self, storage: Any) -> None:
        self.storage = storage  # a storages.backends.s3.S3Storage

    @property
    def _client(self) -> Any:
        return self.storage.connection.meta.client

    @property
    def _signing_client(self) -> Any:
        """The client that signs what is handed to clients: for the public endpoint when
        one is set (``AWS_S3_PUBLIC_ENDPOINT_URL``), else the servers' own."""
        return getattr(self.storage, "signing_client", None) or self._client

    @property
    def _bucket(self) -> str:
        return str(self.storage.bucket_name)

    def save(self, key: str, content: bytes | IO[bytes], content_type: str | None) -> None:
        wrapped = ContentFile(content) if isinstance(content, bytes) else File(content)
        wrapped.content_type = content_type  # type: ignore[attr-defined]
        if (
            isinstance(content, bytes)
            and len(content) < self.storage.transfer_config.multipart_threshold
            and not self.storage.gzip
        ):
            # A small object (a rendition): one PutObject, without the transfer manager
            # (and its thread pool) that django-storages starts for every save; the same
            # object parameters as its save. Larger ones still go in concurrent parts.
            params = self.storage._get_write_parameters(key, wrapped)
            with _translate_errors(key):
                self._client.put_object(Bucket=self._bucket, Key=key, Body=content, **params)
            return
        with _translate_errors(key):
            stored = self.storage.save(key, wrapped)
        if stored != key:
            raise StorageUnavailable(f"storage renamed {key!r} to {stored!r}")

    def iter_chunks(self, key: str, chunk_bytes: int) -> Iterator[bytes]:
        with _translate_errors(key):
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
            try:
                yield from body.iter_chunks(chunk_bytes)
            finally:
                body.close()

    def download_to(self, key: str, target: IO[bytes]) -> None:
        """A multipart ranged download."""
        with _translate_errors(key):
            self._client.download_fileobj(self._bucket, key, target)

    def read_head(self, key: str, length: int) -> bytes:
        with _translate_errors(key):
            answer = self._client.get_object(
                Bucket=self._bucket, Key=key, Range=f"bytes=0-{length - 1}"
            )
            return bytes(answer["Body"].read())

    def open(self, key: str) -> IO[bytes]:
        with _translate_errors(key):
            return self._client.get_object(Bucket=self._bucket, Key=key)["Body"]  # type: ignore[no-any-return]

    def stat(self, key: str) -> ObjectInfo:
        with _translate_errors(key):
            head = self._client.head_object(Bucket=self._bucket, Key=key)
        return ObjectInfo(
            key=key,
            size=int(head["ContentLength"]),
            etag=str(head.get("ETag", "")),
            modified=_aware(head.get("LastModified")),
        )

    def delete(self, key: str) -> None:
        with _translate_errors(key):
            self.storage.delete(key)

    def move(self, source: str, target: str) -> ObjectInfo:
        """Server-side copy, then delete the source; the copy is checked before the delete."""
        from boto3.s3.transfer import TransferConfig

        moved = self.stat(source)
        with _translate_errors(source):
            self._client.copy(
                {"Bucket": self._bucket, "Key": source},
                self._bucket,
                target,
                Config=TransferConfig(multipart_threshold=_SINGLE_COPY_BYTES),
            )
        copied = self.stat(target)
        if copied.size != moved.size:
            raise StorageUnavailable(f"copy of {source!r} has {copied.size} of {moved.size} bytes")
        self.delete(source)
        return copied

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        with _translate_errors(prefix):
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        key=str(item["Key"]),
                        size=int(item["Size"]),
                        etag=str(item.get("ETag", "")),
                        modified=_aware(item.get("LastModified")),
                    )

    def check(self) -> None:
        with _translate_errors("(health check)"):
            self._client.head_bucket(Bucket=self._bucket)

    def prepare(self, *, create: bool) -> str:
        try:
            self.check()
            return f"bucket {self._bucket!r} is reachable"
        except ObjectNotFound:  # HeadBucket answers 404 for a bucket that does not exist
            if not create:
                raise StorageUnavailable(f"bucket {self._bucket!r} does not exist") from None
        with _translate_errors(f"(create bucket {self._bucket})"):
            self._client.create_bucket(Bucket=self._bucket)
        self.check()
        return f"bucket {self._bucket!r} created"

    def signed_url(
        self,
        key: str,
        expires_in: int,
        *,
        download_name: str | None,
        content_type: str | None,
        attachment: bool,
    ) -> SignedUrl:
        expires_at = expiry(expires_in)
        params: dict[str, str] = {}
        if download_name:
            params["ResponseContentDisposition"] = (
                content_disposition_header(attachment, download_name) or ""
            )
        if content_type:
            params["ResponseContentType"] = content_type
        with _translate_errors(key):
            url = self.storage.url(key, parameters=params or None, expire=expires_in)
        return SignedUrl(str(url), expires_at)

    def grant_upload(
        self, key: str, size_bytes: int, content_type: str, expires_in: int
    ) -> UploadTarget:
        expires_at = expiry(expires_in)
        with _translate_errors(key):
            post = self._signing_client.generate_presigned_post(
                Bucket=self._bucket,
                Key=key,
                Fields={"Content-Type": content_type},
                Conditions=[
                    {"Content-Type": content_type},
                    ["content-length-range", size_bytes, size_bytes],
                ],
                ExpiresIn=expires_in,
            )
        return UploadTarget("POST", post["url"], dict(post["fields"]), expires_at, size_bytes)


def _aware(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)
