"""A decoder that crashes the process, and an oversized upload, against a real server.

``rawproc serve`` runs on PostgreSQL and Redis with ``RAWPROC_TEST_CRASH_MARKER`` set, so
decoding a file that carries the marker aborts the Celery child process exactly as a
segfault in LibRaw would. The crash must cost that one asset only: it fails with
``decoder_crashed`` after ``RAWPROC_MAX_CRASHES`` runs, and the worker keeps serving.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.service.live import (
    Server,
    postgres_database,
    redis_queues,
    running_server,
    upload_multipart,
    wait_done,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

MAX_CRASHES = 2
CRASH_MARKER = f"crash-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("crash")
    with postgres_database() as database_url:
        extra = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            **redis_queues(),
            "RAWPROC_TEST_CRASH_MARKER": CRASH_MARKER,
            "RAWPROC_MAX_CRASHES": str(MAX_CRASHES),
        }
        with running_server(workdir, extra) as server:
            yield server


def test_crashing_decoder_fails_one_asset_and_the_worker_goes_on(
    live: Server, dng_factory: Callable[..., Path]
) -> None:
    alice = live.session("alice")
    crashing = dng_factory("crashing.dng", exif={"Artist": CRASH_MARKER}, seed=1)
    good = dng_factory("good.dng", seed=2)

    crash_asset = upload_multipart(alice, live.base, crashing)
    good_asset = upload_multipart(alice, live.base, good)

    failed = wait_done(alice, crash_asset["url"], live)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "decoder_crashed"
    assert f"{MAX_CRASHES} times" in failed["error"]["message"]
    assert failed["attempts"] == MAX_CRASHES
    assert failed["variants"] == []
    assert wait_done(alice, good_asset["url"], live)["status"] == "ready"
    # The child really died of the abort; the worker replaced it and goes on serving.
    assert "SIGABRT" in live.log.read_text(errors="replace")
    later = upload_multipart(alice, live.base, dng_factory("later.dng", seed=3))
    ready = wait_done(alice, later["url"], live)
    assert ready["status"] == "ready"
    assert {v["name"] for v in ready["variants"]} == {"thumbnail", "preview"}


def test_bad_input_oversized_upload_is_refused_before_its_body(live: Server) -> None:
    """gunicorn + Django answer 413 from ``Content-Length`` while the client still holds
    nearly all of a 10 GB body."""
    url = urlsplit(live.base)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
    try:
        conn.putrequest("POST", "/api/assets/")
        conn.putheader("Authorization", f"Token {live.tokens['alice']}")
        conn.putheader("Content-Type", "multipart/form-data; boundary=xyz")
        conn.putheader("Content-Length", str(10 * 1024**3))
        conn.endheaders()
        conn.send(b"--xyz\r\n" + b"\0" * 65536)
        answer = conn.getresponse()
        body = json.loads(answer.read())
    finally:
        conn.close()
    assert answer.status == 413
    assert body["code"] == "file_too_large"
    assert "the limit is" in body["message"]
