"""Object storage and signed URLs, on file storage and on a real S3 server (SeaweedFS)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from pytest_django import Settings

from rawproc import storage
from rawproc.storage.s3 import S3Store
from tests.service.conftest import fetch, post_form, reserve

KEY = "originals/1/abc/photo.NEF"


def tamper(url: str) -> str:
    """Change one character of the signature (or of the token, on file storage)."""
    parts = urlsplit(url)
    if parts.query:
        query = parts.query
        index = query.index("Signature=") + len("Signature=") + 3
        changed = "0" if query[index] != "0" else "1"
        return url.replace(query, query[:index] + changed + query[index + 1 :])
    index = len(url) - 10
    changed = "A" if url[index] != "A" else "B"
    return url[:index] + changed + url[index + 1 :]


@pytest.mark.django_db
def test_objects_round_trip(backend: str) -> None:
    data = bytes(range(256)) * 5000
    storage.save(KEY, io.BytesIO(data), "image/x-nikon-nef")
    assert storage.exists(KEY)
    assert storage.size(KEY) == len(data)
    assert storage.read_head(KEY, 16) == data[:16]
    assert b"".join(storage.iter_chunks(KEY, chunk_bytes=4096)) == data
    target = io.BytesIO()
    storage.download_to(KEY, target)
    assert target.getvalue() == data
    storage.save(KEY, b"replaced")
    assert storage.size(KEY) == len(b"replaced")
    storage.delete(KEY)
    assert not storage.exists(KEY)
    storage.delete(KEY)  # deleting twice is fine
    with pytest.raises(storage.ObjectNotFound):
        storage.size(KEY)


@pytest.mark.django_db
@pytest.mark.parametrize("size", [600_000, 9 * 1024 * 1024])  # one PutObject; in parts
def test_s3_bytes_are_stored_whole_with_their_content_type(s3_bucket: str, size: int) -> None:
    data = os.urandom(size)
    storage.save(KEY, data, "image/webp")
    assert b"".join(storage.iter_chunks(KEY)) == data
    store = storage.backend()
    assert isinstance(store, S3Store)
    head = store._client.head_object(Bucket=s3_bucket, Key=KEY)
    assert head["ContentType"] == "image/webp"


@pytest.mark.django_db
def test_signed_url_serves_the_object_and_refuses_tampering(backend: str) -> None:
    storage.save(KEY, b"RAW bytes")
    link = storage.signed_url(KEY, 60, download_name="my photo.NEF", attachment=True)
    status, body, headers = fetch(link.url)
    assert (status, body) == (200, b"RAW bytes")
    assert "attachment" in headers["Content-Disposition"]
    assert "photo.NEF" in headers["Content-Disposition"]
    assert fetch(tamper(link.url))[0] == 403


@pytest.mark.django_db
def test_signed_url_expires(backend: str) -> None:
    storage.save(KEY, b"RAW bytes")
    link = storage.signed_url(KEY, 2)
    assert fetch(link.url)[0] == 200
    time.sleep(max(0.0, link.expires_at.timestamp() - time.time()) + 1.5)
    assert fetch(link.url)[0] == 403


def test_signed_urls_only_reach_known_key_prefixes() -> None:
    with pytest.raises(storage.ObjectNotFound):
        storage.signed_url("originals/../../secret_key", 60)
    with pytest.raises(storage.ObjectNotFound):
        storage.signed_url("config/settings.py", 60)


@pytest.mark.django_db
def test_upload_token_is_not_a_download_token() -> None:
    target = storage.grant_upload("incoming/abc/x", 10, "image/x-nikon-nef", 60)
    token = target.url.rstrip("/").rsplit("/", 1)[-1]
    with pytest.raises(storage.InvalidToken):
        storage.verify_download(token)


@pytest.mark.django_db
def test_direct_upload_accepts_exactly_the_declared_size(backend: str, user: User) -> None:
    data = b"x" * 1000
    asset, target = reserve(user, len(data))
    assert asset.upload_key.startswith(f"incoming/{asset.pk}/")
    assert _post_upload(target, data + b"more") in (400, 413)
    assert _post_upload(target, data[:-1]) == 400
    assert not storage.exists(asset.upload_key)
    assert _post_upload(target, data) in (200, 201, 204)
    assert storage.size(asset.upload_key) == len(data)
    assert not storage.exists(asset.storage_key)  # the client never writes the original


@pytest.mark.django_db
def test_move_and_list(backend: str) -> None:
    storage.save("incoming/a1/tok", b"raw bytes")
    storage.save("renditions/a1/thumb-1.jpg", b"jpeg")
    moved = storage.move("incoming/a1/tok", KEY)
    assert (moved.key, moved.size) == (KEY, 9)
    assert moved.etag == storage.stat(KEY).etag
    assert not storage.exists("incoming/a1/tok")
    assert b"".join(storage.iter_chunks(KEY)) == b"raw bytes"
    assert {info.key for info in storage.list_objects("originals/")} == {KEY}
    assert storage.delete_prefix("renditions/a1/") == 1
    assert list(storage.list_objects("renditions/")) == []


@pytest.mark.django_db
def test_etag_changes_when_an_object_is_rewritten(backend: str) -> None:
    storage.save(KEY, b"first version")
    before = storage.stat(KEY).etag
    time.sleep(0.01)
    storage.save(KEY, b"other version")  # same size, other bytes
    assert storage.stat(KEY).etag != before


def _post_upload(target: storage.UploadTarget, data: bytes) -> int:
    return post_form(target, data)


@pytest.mark.django_db
def test_check_reports_a_missing_bucket(settings: Settings, s3_bucket: str) -> None:
    storage.check()
    options = storage.backend().storage.__dict__  # type: ignore[attr-defined]
    assert options["bucket_name"] == s3_bucket
    settings.STORAGES["default"]["OPTIONS"]["bucket_name"] = "no-such-bucket-here"
    settings.STORAGES = dict(settings.STORAGES)
    with pytest.raises(storage.StorageError):
        storage.check()


@pytest.mark.django_db
def test_prepare_creates_a_missing_bucket_only_when_allowed(
    settings: Settings, s3_bucket: str
) -> None:
    assert storage.prepare(create=False) == f"bucket {s3_bucket!r} is reachable"
    missing = f"prepare-{time.monotonic_ns()}"
    settings.STORAGES["default"]["OPTIONS"]["bucket_name"] = missing
    settings.STORAGES = dict(settings.STORAGES)
    with pytest.raises(storage.StorageUnavailable, match="does not exist"):
        storage.prepare(create=False)
    assert storage.prepare(create=True) == f"bucket {missing!r} created"
    storage.save(KEY, b"written after the release step")
    assert storage.read_head(KEY) == b"written after the release step"
    assert storage.prepare(create=True) == f"bucket {missing!r} is reachable"


@pytest.mark.django_db
def test_prepare_makes_the_data_folder(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "data" / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(folder)},
        },
    }
    assert "is writable" in storage.prepare(create=False)
    assert folder.is_dir()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\photos\\IMG_0001.CR2", "IMG_0001.CR2"),
        ("bad\x00name\x1f.NEF", "bad_name.NEF"),
        ("Überfahrt.ARW", "Uberfahrt.ARW"),
        ("東京.DNG", "upload.DNG"),
        ("a" * 300 + ".NEF", "a" * 96 + ".NEF"),
        ("", "upload"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert storage.safe_filename(name) == expected
