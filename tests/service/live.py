"""A real ``rawproc serve`` (gunicorn + a Celery worker) in a subprocess, used over HTTP.

Shared by the tests that need real processes: the end-to-end test, the crashing-decoder
test and the fault tests. ``running_server`` starts it with a clean environment plus the
settings a test chooses and stops it at the end, checking that it stopped cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from tests.services import free_ports, require_postgres

RAWPROC = str(Path(sys.executable).parent / "rawproc")
READY_TIMEOUT = 240.0
START_TIMEOUT = 90.0


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


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The parent's environment minus anything that would pick a backend, plus ``extra``."""
    picked = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "RAWPROC_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", *picked))}
    return {**env, **extra}


@contextmanager
def postgres_database() -> Iterator[str]:
    """A database of its own, so the server processes and the test share committed data."""
    import psycopg

    url = require_postgres()
    name = f"rawproc_e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_queues() -> dict[str, str]:
    """Queues of their own: no other worker on the same Redis may take these messages."""
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    return {"RAWPROC_DEFAULT_QUEUE": prefix, "RAWPROC_DECODE_QUEUE": f"{prefix}.decode"}


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
    (port,) = free_ports(1)
    log = workdir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(RAWPROC, "serve", "--port", str(port)),
                *("--concurrency", str(concurrency), "--web-workers", "1"),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, log)
        yield Server(base, tokens, log, process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, f"rawproc serve did not stop cleanly:\n{tail(log)}"


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"rawproc serve exited with {process.returncode}:\n{tail(log)}")
        try:
            if requests.get(f"{base}/api/health/", timeout=10).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still starting up
            pass
        time.sleep(0.5)
    pytest.fail(f"rawproc serve did not become healthy:\n{tail(log)}")


def upload_multipart(api: requests.Session, base: str, path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        answer = api.post(f"{base}/api/assets/", files={"file": (path.name, fh)}, timeout=60)
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
    pytest.fail(f"{url} still {asset['status']} after {READY_TIMEOUT} s:\n{tail(server.log)}")
