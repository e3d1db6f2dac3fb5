"""Faults on the real stack: a worker killed, the broker restarted, storage and database lost.

Each test runs the production processes (gunicorn, Celery workers on PostgreSQL, a private
Redis with AOF persistence, SeaweedFS) and breaks one of them in the middle of work, then
checks the promise: every upload ends ``ready`` (or ``failed`` with a stable code when the
retry budget runs out), none stays ``processing``, and no rendition is presented unless it
is whole. Workers run ``tests.service.faultworker``, the real app with a decode delay, so
"in the middle of a task" is certain rather than lucky.

Timeouts are short here so the suite stays quick: a 10 s Redis visibility timeout checked on
every restore tick, a 3 s stale sweep, retries backing off at most 2 s.
"""

from __future__ import annotations

import io
import itertools
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from PIL import Image

from harness.redis import RedisServer
from harness.stack import Stack, running_stack
from tests.service.faultworker import DELAY_ENV
from tests.service.live import upload_multipart

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

FAULTWORKER = "tests.service.faultworker"
FAULT_ENV = {
    "RAWPROC_VISIBILITY_TIMEOUT": "10",
    "RAWPROC_UNACKED_RESTORE_THROTTLE": "1",
    "RAWPROC_STALE_SWEEP_SECONDS": "3",
    "RAWPROC_STALE_QUEUED_SECONDS": "20",
    "RAWPROC_RETRY_BACKOFF_MAX": "2",
    "RAWPROC_UPLOAD_RATE": "",
}
WAIT_SECONDS = 180.0


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The module's own Redis: the broker test restarts it, which no shared Redis may suffer."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer) -> Iterator[Stack]:
    with running_stack(
        web_workers=1, threads=4, extra_env=FAULT_ENV, redis_url=redis_server.url
    ) as stack:
        yield stack


@pytest.fixture
def live(stack: Stack) -> Iterator[Stack]:
    """The stack with no worker running yet; whatever the test starts is stopped after it."""
    try:
        yield stack
    finally:
        stack.stop_workers()


# One sequence for the module: its tests share a database, where equal bytes are deduplicated.
_SEEDS = itertools.count(1)


@pytest.fixture
def make_file(dng_factory: Callable[..., Path]) -> Callable[[], Path]:
    """A small DNG whose bytes no other upload of the module has."""

    def make() -> Path:
        seed = next(_SEEDS)
        return dng_factory(f"photo-{seed}.dng", width=480, height=320, seed=seed)

    return make


def upload(stack: Stack, path: Path) -> str:
    """Upload over HTTP; return the asset's API URL."""
    return str(upload_multipart(stack.session(), stack.base, path)["url"])


def asset(stack: Stack, url: str) -> dict[str, Any]:
    answer = stack.session().get(url, timeout=60)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def wait_for(
    stack: Stack, url: str, done: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        current = asset(stack, url)
        if done(current):
            return current
        time.sleep(0.2)
    pytest.fail(f"{url} never {what}; last {current['status']}:\n{stack.log_tail()}")


def wait_finished(stack: Stack, urls: list[str]) -> list[dict[str, Any]]:
    return [
        wait_for(stack, url, lambda a: a["status"] in ("ready", "failed"), "finished")
        for url in urls
    ]


def assert_whole(found: dict[str, Any]) -> None:
    """Ready, and every variant it presents is a complete image of the announced size."""
    assert found["status"] == "ready", found["error"]
    assert {v["name"] for v in found["variants"]} == {"thumbnail", "preview"}
    for variant in found["variants"]:
        answer = requests.get(variant["url"], timeout=60)
        assert answer.status_code == 200, answer.text
        assert len(answer.content) == variant["size"]
        image = Image.open(io.BytesIO(answer.content))
        image.load()  # a truncated file fails here
        assert image.size == (variant["width"], variant["height"])


def kill_group(process: Any) -> None:
    """``kill -9`` the worker's whole process group (main process, pool children, beat)."""
    group = os.getpgid(process.pid)
    members = [p for p in psutil.process_iter(["pid"]) if _group(p) == group]
    assert len(members) >= 2, "expected the main worker process and its pool children"
    os.killpg(group, signal.SIGKILL)
    process.wait()
    _, alive = psutil.wait_procs(members, timeout=10)
    assert not alive, f"survived kill -9: {alive}"


def _group(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except (ProcessLookupError, PermissionError):
        return None


def test_worker_killed_mid_task_is_redelivered(live: Stack, make_file: Callable[[], Path]) -> None:
    (worker,) = live.start_workers(1, app=FAULTWORKER, env={DELAY_ENV: "4"})
    urls = [upload(live, make_file()) for _ in range(3)]
    victim = first_with_status(live, urls, "processing")
    kill_group(worker)
    # Nothing reports back for the killed run: the database still says ``processing``.
    assert asset(live, victim)["status"] == "processing"

    live.start_workers(1, app=FAULTWORKER)
    finished = wait_finished(live, urls)
    for found in finished:
        assert_whole(found)
    by_url = dict(zip(urls, finished, strict=True))
    assert by_url[victim]["attempts"] == 2  # the killed run, then the redelivered one


def first_with_status(stack: Stack, urls: list[str], status: str) -> str:
    """Wait until one of the assets has ``status``; return its URL."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        for url in urls:
            if asset(stack, url)["status"] == status:
                return url
        time.sleep(0.1)
    pytest.fail(f"no asset reached {status}:\n{stack.log_tail()}")


def test_broker_restart_loses_nothing(
    live: Stack, redis_server: RedisServer, make_file: Callable[[], Path]
) -> None:
    live.start_workers(1, concurrency=2, app=FAULTWORKER, beat=True, env={DELAY_ENV: "2"})
    urls = [upload(live, make_file()) for _ in range(6)]
    first_with_status(live, urls, "processing")
    statuses = {asset(live, url)["status"] for url in urls}
    assert "queued" in statuses, "the restart must find messages still waiting in the queue"

    redis_server.stop()
    # An upload while the broker is down is stored and recorded; its message goes out later.
    urls.append(upload(live, make_file()))
    time.sleep(2)
    redis_server.start()

    for found in wait_finished(live, urls):
        assert_whole(found)
    listed = live.session().get(f"{live.base}/api/assets/?status=processing", timeout=60)
    assert listed.json()["count"] == 0


@pytest.mark.parametrize("storage_returns", [True, False], ids=["returns", "stays-down"])
def test_storage_outage_during_processing(
    live: Stack, make_file: Callable[[], Path], storage_returns: bool
) -> None:
    retries = "30" if storage_returns else "2"
    live.start_workers(
        1, app=FAULTWORKER, env={DELAY_ENV: "3", "RAWPROC_TASK_MAX_RETRIES": retries}
    )
    url = upload(live, make_file())
    wait_for(live, url, lambda a: a["status"] == "processing", "started")
    seaweedfs = live.seaweedfs
    seaweedfs.stop()
    try:
        if storage_returns:
            # Several failed attempts, each handed back to the queue, then storage is back.
            wait_for(live, url, lambda a: a["attempts"] >= 3, "retried")
            assert asset(live, url)["status"] in ("queued", "processing")
            seaweedfs.start()
            assert_whole(wait_finished(live, [url])[0])
        else:
            (found,) = wait_finished(live, [url])
            assert found["status"] == "failed"
            assert found["error"]["code"] == "storage_unavailable"
            assert found["variants"] == []
            assert found["attempts"] == 3  # the first run and two retries
    finally:
        seaweedfs.start()


def test_database_connections_dropped(live: Stack, make_file: Callable[[], Path]) -> None:
    import psycopg

    live.start_workers(1, app=FAULTWORKER, env={DELAY_ENV: "2"})
    first = upload(live, make_file())
    assert_whole(wait_finished(live, [first])[0])

    def drop_connections() -> int:
        """Terminate every server connection to the stack's database (API's and workers')."""
        with psycopg.connect(live.env["DATABASE_URL"], autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        return len(rows)

    assert drop_connections() >= 2  # at least the API's and the worker's
    second = upload(live, make_file())
    wait_for(live, second, lambda a: a["status"] == "processing", "started")
    assert drop_connections() >= 1  # again, in the middle of the task
    third = upload(live, make_file())
    for found in wait_finished(live, [second, third]):
        assert_whole(found)
