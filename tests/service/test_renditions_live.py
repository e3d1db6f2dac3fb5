"""Renditions on demand against a real ``rawproc serve`` (gunicorn + a Celery worker) on
PostgreSQL and Redis, used only over HTTP: specs nobody configured are made by the worker
(``202`` then ``302``), once however many clients ask, and ``Accept`` picks the format."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from harness.processes import log_tail
from tests.service.live import (
    READY_TIMEOUT,
    Server,
    postgres_database,
    redis_queues,
    running_server,
    upload_multipart,
    wait_done,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

FORMATS = {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF"}


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with postgres_database() as database_url:
        extra = {
            "DATABASE_URL": database_url,
            "REDIS_URL": request.getfixturevalue("redis_url"),
            **redis_queues(),
            # Every rendition goes to the worker, so each request that makes one answers 202.
            "RAWPROC_RENDITION_INLINE_MAX_PIXELS": "0",
            "RAWPROC_LOG_LEVEL": "INFO",
        }
        with running_server(tmp_path, extra, concurrency=2) as server:
            yield server


def _get(api: requests.Session, url: str, accept: str | None = None) -> requests.Response:
    headers = {"Accept": accept} if accept else {}
    return api.get(url, headers=headers, allow_redirects=False, timeout=60)


def _until_made(api: requests.Session, url: str, server: Server, accept: str | None = None) -> str:
    """Poll a rendition URL through its ``202`` answers; the ``302`` target."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        answer = _get(api, url, accept)
        if answer.status_code == 302:
            return str(answer.headers["Location"])
        assert answer.status_code == 202, answer.text
        assert int(answer.headers["Retry-After"]) >= 1
        status = api.get(answer.headers["Location"], timeout=30).json()
        # The worker may finish between the 202 and this read: then the next request redirects.
        assert status["status"] in {"pending", "ready"}, status
        time.sleep(0.3)
    pytest.fail(f"{url} still not made after {READY_TIMEOUT} s:\n{log_tail(server.log)}")


def _image(url: str) -> Image.Image:
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    return Image.open(io.BytesIO(answer.content))


def _made(server: Server, key: str) -> int:
    """How many times the worker or a web process made the rendition ``key``."""
    return server.log.read_text(errors="replace").count(f"rendition {key} made from")


def test_specs_nobody_configured_are_made_once_and_negotiated(
    server: Server, dng_factory: Callable[..., Path]
) -> None:
    alice, bob = server.session("alice"), server.session("bob")
    photo = dng_factory("wide.dng", width=1800, height=1200, preview_size=160, seed=7)
    asset = wait_done(alice, upload_multipart(alice, server.base, photo)["url"], server)
    assert asset["status"] == "ready", asset["error"]
    base = asset["url"]

    # Sizes and formats nobody configured: 202, then 302 to a file of that size and format,
    # from the stored preview (1440) and from the original (full size).
    for spec, fmt, long_edge, source in (
        ("640.jpeg.70", "jpeg", 640, "from:2048.jpeg.85"),
        ("1440.avif", "avif", 1440, "from:2048.jpeg.85"),
        ("full.webp", "webp", 1800, None),
    ):
        first = _get(alice, f"{base}renditions/{spec}/")
        assert first.status_code == 202, first.text
        assert first.json()["status"] == "pending"
        location = _until_made(alice, f"{base}renditions/{spec}/", server)
        image = _image(location)
        assert image.format == FORMATS[fmt]
        assert max(image.size) == long_edge
        assert image.size[0] > image.size[1]
        # Asked again: the same object, and no new work.
        again = _get(alice, f"{base}renditions/{spec}/")
        assert again.status_code == 302
        assert requests.get(again.headers["Location"], timeout=30).content == (
            requests.get(location, timeout=30).content
        )
        listed = {
            v["spec"]: v for v in alice.get(f"{base}renditions/", timeout=30).json()["variants"]
        }
        key = next(k for k in listed if k.startswith(spec.split(".")[0] + "." + fmt))
        assert max(listed[key]["width"], listed[key]["height"]) == long_edge
        if source is not None:
            assert listed[key]["source"] == source
        assert _made(server, key) == 1
        assert bob.get(f"{base}renditions/{spec}/", timeout=30).status_code == 404

    # Twenty clients at once for a missing spec: one job, one object.
    url = f"{base}renditions/1080.webp.60/"
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: _get(server.session("alice"), url), range(20)))
    assert {a.status_code for a in answers} <= {202, 302}
    assert any(a.status_code == 202 for a in answers)
    contents = {requests.get(_until_made(alice, url, server), timeout=30).content for _ in range(3)}
    assert len(contents) == 1
    assert _made(server, "1080.webp.60") == 1
    received = server.log.read_text(errors="replace").count("rawproc.render_rendition[")
    assert received >= 1

    # A bare size takes its format from Accept (AVIF, then WebP, then JPEG), with Vary.
    for accept, fmt in (
        ("image/avif,image/webp,image/apng,image/*,*/*;q=0.8", "avif"),
        ("image/webp,*/*", "webp"),
        ("image/avif;q=0,image/webp", "webp"),
        ("*/*", "jpeg"),
        (None, "jpeg"),
    ):
        location = _until_made(alice, f"{base}renditions/320/", server, accept)
        assert _image(location).format == FORMATS[fmt]
        assert max(_image(location).size) == 320
        vary = _get(alice, f"{base}renditions/320/", accept).headers.get("Vary", "")
        assert "Accept" in vary
    # A spec with a format is not negotiated, and Accept never makes it a 406.
    explicit = _get(alice, f"{base}renditions/320.webp/", "image/avif")
    assert explicit.status_code == 302
    assert _image(explicit.headers["Location"]).format == "WEBP"
    assert _get(alice, f"{base}variants/thumbnail/", "image/webp").status_code == 302

    # The configured renditions stay as they were.
    assert {v["name"] for v in alice.get(base, timeout=30).json()["variants"]} >= {
        "thumbnail",
        "preview",
    }


def test_bad_specs_are_refused_by_the_served_stack(
    server: Server, dng_factory: Callable[..., Path]
) -> None:
    alice = server.session("alice")
    asset = wait_done(alice, upload_multipart(alice, server.base, dng_factory())["url"], server)
    cases: dict[str, Any] = {
        "1080.gif": "rendition_spec_invalid",
        "huge": "rendition_spec_invalid",
        "1000.webp": "rendition_size_not_allowed",
        "full.tiff16.90": "rendition_spec_invalid",  # a lossless format takes no quality
        "320.webp.0": "rendition_spec_invalid",
    }
    for spec, code in cases.items():
        answer = _get(alice, f"{asset['url']}renditions/{spec}/")
        assert answer.status_code == 400, (spec, answer.text)
        assert answer.json()["code"] == code
