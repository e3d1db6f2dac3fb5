"""End to end: ``rawproc serve`` (gunicorn + a real Celery worker) in a subprocess, used only
over HTTP, on both stacks it supports:

* ``embedded``: nothing configured (SQLite, file storage, file-system broker) in a temp folder;
* ``cloud``: PostgreSQL (a database created for the test), Redis and SeaweedFS (S3).

Real RAW files are uploaded both ways (multipart and direct-to-storage), processed by the
worker, and their renditions fetched through the signed URLs the API hands out.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from harness.seaweedfs import SeaweedFS
from tests.samples import samples_dir
from tests.service.conftest import SMALL_RAW
from tests.service.live import (
    Server,
    postgres_database,
    redis_queues,
    running_server,
    upload_direct,
    upload_multipart,
    wait_done,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

RAW_FIXTURE = SMALL_RAW.parent / "sony_slt-a55v_truncated.arw"  # real camera file, preview only


@pytest.fixture(params=["embedded", "cloud"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    if request.param == "embedded":
        with running_server(tmp_path, {}) as server:
            yield server
        return
    seaweedfs: SeaweedFS = request.getfixturevalue("seaweedfs")
    with postgres_database() as database_url:
        extra = {
            "DATABASE_URL": database_url,
            "REDIS_URL": request.getfixturevalue("redis_url"),
            **redis_queues(),
            "AWS_BUCKET_NAME": seaweedfs.create_bucket("e2e"),
            "AWS_ACCESS_KEY_ID": seaweedfs.access_key,
            "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_key,
            "AWS_S3_ENDPOINT_URL": seaweedfs.endpoint_url,
            "AWS_S3_REGION_NAME": seaweedfs.region,
            "AWS_S3_ADDRESSING_STYLE": "path",
        }
        with running_server(tmp_path, extra) as server:
            yield server


def _image(url: str) -> Image.Image:
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    return Image.open(io.BytesIO(answer.content))


def _check_variants(asset: dict[str, Any], portrait: bool | None) -> None:
    variants = {v["name"]: v for v in asset["variants"]}
    assert set(variants) == {"thumbnail", "preview"}
    for name, limit in (("thumbnail", 320), ("preview", 2048)):
        variant = variants[name]
        image = _image(variant["url"])
        assert image.format == "JPEG"
        assert image.size == (variant["width"], variant["height"])
        assert max(image.size) <= limit
        if portrait is not None:
            assert (image.height > image.width) == portrait
    assert max(variants["thumbnail"]["width"], variants["thumbnail"]["height"]) == 320


def test_upload_process_and_deliver(
    server: Server, dng_factory: Callable[..., Path], tmp_path: Path
) -> None:
    alice, bob, base = server.session("alice"), server.session("bob"), server.base
    portrait = dng_factory("portrait.dng", width=600, height=400, orientation=6, seed=1)
    direct = dng_factory("direct.dng", width=480, height=360, seed=2)
    files: list[tuple[Path, bool | None, Callable[..., dict[str, Any]]]] = [
        (portrait, True, upload_multipart),
        (RAW_FIXTURE, False, upload_multipart),
        (direct, False, upload_direct),
    ]
    corpus = samples_dir()
    if corpus is not None and (corpus / "real-full" / "canon_eos-30d.cr2").is_file():
        files.append((corpus / "real-full" / "canon_eos-30d.cr2", None, upload_direct))

    queued = [
        (path, portrait_expected, upload(alice, base, path))
        for path, portrait_expected, upload in files
    ]
    for _, _, asset in queued:
        assert asset["status"] == "queued"

    for path, portrait_expected, first in queued:
        asset = wait_done(alice, first["url"], server)
        assert asset["status"] == "ready", asset["error"]
        assert asset["camera_make"], asset["metadata"]
        _check_variants(asset, portrait_expected)
        # Another user sees nothing of it, by any route.
        for route in ("", "variants/preview/", "original/"):
            answer = bob.get(f"{asset['url']}{route}", allow_redirects=False, timeout=30)
            assert answer.status_code == 404
            assert answer.json()["code"] == "not_found"
        original = alice.get(f"{asset['url']}original/", timeout=60)
        assert original.status_code == 200
        assert original.content == path.read_bytes()

    assert bob.get(f"{base}/api/assets/", timeout=30).json()["count"] == 0
    assert alice.get(f"{base}/api/assets/", timeout=30).json()["count"] == len(files)

    # The same bytes again: the existing asset, not a new one.
    again = alice.post(
        f"{base}/api/assets/", files={"file": ("copy.dng", portrait.read_bytes())}, timeout=60
    )
    assert again.status_code == 200
    assert again.json()["id"] == queued[0][2]["id"]

    # A short-lived link works, then stops working.
    asset_url = queued[0][2]["url"]
    redirect = alice.get(f"{asset_url}variants/thumbnail/?expires_in=3", allow_redirects=False)
    assert redirect.status_code == 302
    link = redirect.headers["Location"]
    assert requests.get(link, timeout=30).status_code == 200
    time.sleep(4.5)
    expired = requests.get(link, timeout=30)
    assert expired.status_code == 403

    # Deleting removes the stored objects: a fresh link made before the delete fails after it.
    detail = alice.get(asset_url, timeout=30).json()
    preview_url = next(v["url"] for v in detail["variants"] if v["name"] == "preview")
    assert alice.delete(asset_url, timeout=30).status_code == 204
    assert alice.get(asset_url, timeout=30).status_code == 404
    assert requests.get(preview_url, timeout=30).status_code in (403, 404)
