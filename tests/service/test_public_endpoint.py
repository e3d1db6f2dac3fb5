"""Signed URLs for a public endpoint (``AWS_S3_PUBLIC_ENDPOINT_URL``), on a real S3 server.

The servers talk to SeaweedFS at ``127.0.0.1``; clients are handed URLs signed for
``localhost``, a name the servers never use. Both reach the same server, so the test can
prove that the URLs name the public host and that their signatures hold there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from harness.seaweedfs import SeaweedFS
from rawproc import storage
from tests.service.conftest import s3_storage_settings

KEY = "originals/1/abc/photo.NEF"


@pytest.fixture
def public_endpoint(settings: Any, seaweedfs: SeaweedFS) -> str:
    bucket = seaweedfs.create_bucket("public")
    default = s3_storage_settings(seaweedfs, bucket)
    public = seaweedfs.endpoint_url.replace("127.0.0.1", "localhost")
    assert public != seaweedfs.endpoint_url
    default["BACKEND"] = "rawproc.s3.PublicEndpointS3Storage"
    default["OPTIONS"]["public_endpoint_url"] = public
    settings.STORAGES = {**settings.STORAGES, "default": default}
    return public


@pytest.mark.django_db
def test_download_urls_are_signed_for_the_public_endpoint(public_endpoint: str) -> None:
    storage.save(KEY, b"RAW bytes")  # through the servers' endpoint
    link = storage.signed_url(KEY, 60, download_name="photo.NEF", attachment=True)
    assert urlsplit(link.url).netloc == urlsplit(public_endpoint).netloc
    answer = requests.get(link.url, timeout=10)
    assert (answer.status_code, answer.content) == (200, b"RAW bytes")
    assert "attachment" in answer.headers["Content-Disposition"]
    # The signature covers the host: the same query on the servers' address is refused.
    other = link.url.replace("localhost", "127.0.0.1", 1)
    assert requests.get(other, timeout=10).status_code == 403


@pytest.mark.django_db
def test_direct_uploads_post_to_the_public_endpoint(public_endpoint: str) -> None:
    data = b"x" * 1000
    target = storage.grant_upload(KEY, len(data), "image/x-nikon-nef", 60)
    assert urlsplit(target.url).netloc == urlsplit(public_endpoint).netloc
    answer = requests.post(
        target.url, data=target.fields, files={"file": ("photo.NEF", data)}, timeout=10
    )
    assert answer.status_code in (200, 201, 204), answer.text
    assert storage.size(KEY) == len(data)  # read back through the servers' endpoint


@pytest.mark.django_db
def test_without_a_public_endpoint_urls_name_the_servers_endpoint(
    settings: Any, seaweedfs: SeaweedFS
) -> None:
    default = s3_storage_settings(seaweedfs, seaweedfs.create_bucket("plain"))
    default["BACKEND"] = "rawproc.s3.PublicEndpointS3Storage"
    settings.STORAGES = {**settings.STORAGES, "default": default}
    storage.save(KEY, b"RAW bytes")
    link = storage.signed_url(KEY, 60)
    assert urlsplit(link.url).netloc == urlsplit(seaweedfs.endpoint_url).netloc
    assert requests.get(link.url, timeout=10).content == b"RAW bytes"
    target = storage.grant_upload(KEY, 3, "image/x-nikon-nef", 60)
    assert urlsplit(target.url).netloc == urlsplit(seaweedfs.endpoint_url).netloc
