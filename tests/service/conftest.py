"""Fixtures for the service tests: users with API tokens, storage backends, RAW files.

Storage is always isolated: file storage in a temporary folder by default, or a fresh
bucket on the session's real SeaweedFS server for the ``s3`` parametrisation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from harness.seaweedfs import SeaweedFS
from rawproc import storage
from rawproc.models import Asset
from rawproc.services.processing import asset_process
from rawproc.services.uploads import upload_create
from tests.fixtures.dngmaker import make_dng
from tests.samples import FIXTURES

SMALL_RAW = FIXTURES / "raw" / "leica_m10_truncated.dng"


def file_storage_settings(location: Path) -> dict[str, Any]:
    return {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(location), "allow_overwrite": True},
    }


def s3_storage_settings(server: SeaweedFS, bucket: str) -> dict[str, Any]:
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "access_key": server.access_key,
            "secret_key": server.secret_key,
            "endpoint_url": server.endpoint_url,
            "region_name": server.region,
            "addressing_style": "path",
            "signature_version": "s3v4",
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": True,
        },
    }


def _use_storage(settings: Any, default: dict[str, Any]) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": default}


def process_now(asset_id: str) -> Asset:
    """Run the processing task in this process, as a worker would, and reload the asset."""
    asset_process(asset_id=asset_id, task_id=Asset.objects.get(pk=asset_id).task_id)
    return Asset.objects.get(pk=asset_id)


def fetch(url: str) -> tuple[int, bytes, dict[str, str]]:
    """GET a signed URL: over HTTP for S3, through the Django app for file storage.

    Test-client URLs name the host ``testserver``; only their path matters.
    """
    if url.startswith("http://testserver/"):
        url = url[len("http://testserver") :]
    if url.startswith("/"):
        response = Client().get(url)
        body = response.getvalue()  # the joined stream of a file response, or the content
        return response.status_code, body, dict(response.headers)
    answer = requests.get(url, timeout=10)
    return answer.status_code, answer.content, dict(answer.headers)


@pytest.fixture(autouse=True)
def _file_storage(settings: Any, tmp_path: Path) -> Path:
    """Every service test starts on file storage in its own temporary folder."""
    location = tmp_path / "media"
    _use_storage(settings, file_storage_settings(location))
    return location


@pytest.fixture(autouse=True)
def _fresh_throttle_counts(settings: Any) -> None:
    """Upload throttling counts per user id, and test databases reuse ids: start from zero,
    in a memory cache of the test's own (clearing a Redis cache would flush its database)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()


@pytest.fixture
def s3_bucket(settings: Any, seaweedfs: SeaweedFS) -> str:
    """Switch the default storage to a fresh bucket on the real SeaweedFS server."""
    bucket = seaweedfs.create_bucket("rawproc")
    _use_storage(settings, s3_storage_settings(seaweedfs, bucket))
    return bucket


@pytest.fixture(params=["file", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    """Run a test on both storage backends."""
    if request.param == "s3":
        request.getfixturevalue("s3_bucket")
    return str(request.param)


def _client_for(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def user(db: None) -> User:
    return User.objects.create_user("alice")


@pytest.fixture
def other_user(db: None) -> User:
    return User.objects.create_user("bob")


@pytest.fixture
def api(user: User) -> APIClient:
    return _client_for(user)


@pytest.fixture
def other_api(other_user: User) -> APIClient:
    return _client_for(other_user)


@pytest.fixture
def dng_factory(tmp_path: Path) -> Callable[..., Path]:
    """Write a small synthetic, decodable DNG (distinct content per ``seed``)."""

    def make(name: str = "photo.dng", **kwargs: Any) -> Path:
        kwargs.setdefault("width", 300)
        kwargs.setdefault("height", 200)
        kwargs.setdefault("preview_size", 160)
        return make_dng(tmp_path / name, **kwargs)

    return make


def reserve(owner: User, size: int, name: str = "photo.NEF") -> tuple[Asset, storage.UploadTarget]:
    """A direct-upload reservation of ``size`` bytes and its upload form."""
    return upload_create(owner=owner, filename=name, size=size, content_type="image/x-nikon-nef")


def post_form(
    target: storage.UploadTarget, data: bytes, fields: dict[str, str] | None = None
) -> int:
    """POST a direct-upload form with ``data`` as its file: through the Django app for file
    storage, over HTTP for S3; 0 when the server drops the connection instead."""
    fields = target.fields if fields is None else fields
    if target.url.startswith("/"):
        upload = SimpleUploadedFile("photo.NEF", data, "image/x-nikon-nef")
        return int(Client().post(target.url, {**fields, "file": upload}).status_code)
    files = {"file": ("photo.NEF", data, "image/x-nikon-nef")}
    try:
        return requests.post(target.url, data=fields, files=files, timeout=10).status_code
    except requests.ConnectionError:
        return 0
