"""A real ``rawproc serve`` (gunicorn + a Celery worker) in a subprocess, used over HTTP.

Shared by the tests that need real processes: the end-to-end test, the crashing-decoder
test and the browser tests (tests/web). ``serve`` starts it with exactly the environment it is
given and stops it at the end; ``running_server`` gives it a clean environment plus the
settings a test chooses and two users with API tokens, and checks that it stopped cleanly.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.postgres import scratch_database
from harness.processes import (
    ServiceUnavailable,
    clean_env,
    free_ports,
    interrupt,
    log_tail,
    wait_healthy,
)
from tests.services import require_postgres

RAWPROC = str(Path(sys.executable).parent / "rawproc")
READY_TIMEOUT = 240.0
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


@dataclass
class Server:
    base: str
    tokens: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes]

    def session(self, user: str) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.tokens[user]}"
        return session


@contextmanager
def postgres_database() -> Iterator[str]:
    """A database of its own, so the server processes and the test share committed data."""
    with scratch_database(require_postgres(), "rawproc_e2e") as url:
        yield url


def redis_queues() -> dict[str, str]:
    """Queues of their own: no other worker on the same Redis may take these messages."""
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    return {"RAWPROC_DEFAULT_QUEUE": prefix, "RAWPROC_DECODE_QUEUE": f"{prefix}.decode"}


@contextmanager
def serve(
    workdir: Path, env: dict[str, str], *, concurrency: int, web_workers: int
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``rawproc serve`` with exactly ``env``, logging to ``workdir/serve.log``: yields its base
    URL and process once it is healthy, and stops it (SIGINT, as Ctrl-C) at the end."""
    (port,) = free_ports(1)
    log = workdir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(RAWPROC, "serve", "--port", str(port)),
                *("--concurrency", str(concurrency), "--web-workers", str(web_workers)),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(base, process, log, name="rawproc serve", timeout=START_TIMEOUT)
        except ServiceUnavailable as exc:
            pytest.fail(str(exc))
        yield base, process
    finally:
        interrupt(process, STOP_TIMEOUT)


@contextmanager
def running_server(
    workdir: Path, extra: dict[str, str], *, concurrency: int = 2
) -> Iterator[Server]:
    """``rawproc serve`` with users ``alice`` and ``bob``, data and log under ``workdir``."""
    env = clean_env(
        {"RAWPROC_DATA_DIR": str(workdir / "data"), "RAWPROC_LOG_LEVEL": "WARNING", **extra}
    )
    tokens = {
        user: subprocess.run(
            [RAWPROC, "token", user], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        for user in ("alice", "bob")
    }
    with serve(workdir, env, concurrency=concurrency, web_workers=1) as (base, process):
        yield Server(base, tokens, workdir / "serve.log", process)
    log = log_tail(workdir / "serve.log")
    assert process.returncode == 0, f"rawproc serve did not stop cleanly:\n{log}"


def upload_multipart(api: requests.Session, base: str, path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        answer = api.post(f"{base}/api/assets/", files={"file": (path.name, fh)}, timeout=120)
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def upload_direct(api: requests.Session, base: str, path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    created = api.post(
        f"{base}/api/uploads/",
        json={"filename": path.name, "size": len(data), "content_type": "image/x-adobe-dng"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["asset"]["status"] == "uploading"
    upload = body["upload"]
    stored = requests.post(
        upload["url"],
        data=upload["fields"],
        files={upload["file_field"]: (path.name, data, "image/x-adobe-dng")},
        timeout=60,
    )
    assert stored.status_code in (200, 201, 204), stored.text
    completed = api.post(body["complete_url"], timeout=60)
    assert completed.status_code == 202, completed.text
    return dict(completed.json())


def wait_done(api: requests.Session, url: str, server: Server) -> dict[str, Any]:
    """Poll an asset until it is ``ready`` or ``failed``; fail the test after a long wait."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        asset = api.get(url, timeout=30).json()
        if asset["status"] in ("ready", "failed"):
            return dict(asset)
        time.sleep(0.5)
    pytest.fail(f"{url} still {asset['status']} after {READY_TIMEOUT} s:\n{log_tail(server.log)}")
