"""End to end: ``rawproc serve`` (gunicorn + a real Celery worker) in a subprocess, used only
over HTTP, on both stacks it supports:

* ``embedded``: nothing configured (SQLite, file storage, file-system broker) in a temp folder;
* ``cloud``: PostgreSQL (a database created for the test), Redis and SeaweedFS (S3).

Real RAW files are uploaded both ways (multipart and direct-to-storage), processed by the
worker, and their renditions fetched through the signed URLs the API hands out.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from PIL import Image

from tests.samples import samples_dir
from tests.service.conftest import SMALL_RAW
from tests.services import SeaweedFS, free_ports, require_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

RAWPROC = str(Path(sys.executable).parent / "rawproc")
READY_TIMEOUT = 240.0
START_TIMEOUT = 90.0
RAW_FIXTURE = SMALL_RAW.parent / "sony_slt-a55v_truncated.arw"  # real camera file, preview only


@dataclass
class Server:
    base: str
    tokens: dict[str, str]
    log: Path

    def session(self, user: str) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.tokens[user]}"
        return session


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The parent's environment minus anything that would pick a backend, plus ``extra``."""
    picked = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "RAWPROC_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", *picked))}
    return {**env, **extra}


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A database of its own, so the worker process and the test share committed data."""
    import psycopg

    url = require_postgres()
    name = f"rawproc_e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(url)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["embedded", "cloud"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    extra = {"RAWPROC_DATA_DIR": str(tmp_path / "data"), "RAWPROC_LOG_LEVEL": "WARNING"}
    if request.param == "cloud":
        seaweedfs: SeaweedFS = request.getfixturevalue("seaweedfs")
        prefix = f"e2e-{uuid.uuid4().hex[:8]}"
        extra |= {
            "DATABASE_URL": request.getfixturevalue("postgres_database"),
            "REDIS_URL": request.getfixturevalue("redis_url"),
            # Queues of its own: no other worker on this Redis may take these messages.
            "RAWPROC_DEFAULT_QUEUE": prefix,
            "RAWPROC_DECODE_QUEUE": f"{prefix}.decode",
            "AWS_BUCKET_NAME": seaweedfs.create_bucket("e2e"),
            "AWS_ACCESS_KEY_ID": seaweedfs.access_key,
            "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_key,
            "AWS_S3_ENDPOINT_URL": seaweedfs.endpoint_url,
            "AWS_S3_REGION_NAME": seaweedfs.region,
            "AWS_S3_ADDRESSING_STYLE": "path",
        }
    env = _clean_env(extra)
    tokens = {
        user: subprocess.run(
            [RAWPROC, "token", user], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        for user in ("alice", "bob")
    }
    (port,) = free_ports(1)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [RAWPROC, "serve", "--port", str(port), "--concurrency", "2", "--web-workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, log)
        yield Server(base, tokens, log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, f"rawproc serve did not stop cleanly:\n{_tail(log)}"


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"rawproc serve exited with {process.returncode}:\n{_tail(log)}")
        try:
            if requests.get(f"{base}/api/health/", timeout=10).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still starting up
            pass
        time.sleep(0.5)
    pytest.fail(f"rawproc serve did not become healthy:\n{_tail(log)}")


def _upload_multipart(api: requests.Session, base: str, path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        answer = api.post(f"{base}/api/assets/", files={"file": (path.name, fh)}, timeout=60)
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def _upload_direct(api: requests.Session, base: str, path: Path) -> dict[str, Any]:
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


def _wait_ready(api: requests.Session, url: str, server: Server) -> dict[str, Any]:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        asset = api.get(url, timeout=30).json()
        if asset["status"] in ("ready", "failed"):
            return dict(asset)
        time.sleep(0.5)
    pytest.fail(f"{url} still {asset['status']} after {READY_TIMEOUT} s:\n{_tail(server.log)}")


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
        (portrait, True, _upload_multipart),
        (RAW_FIXTURE, False, _upload_multipart),
        (direct, False, _upload_direct),
    ]
    corpus = samples_dir()
    if corpus is not None and (corpus / "real-full" / "canon_eos-30d.cr2").is_file():
        files.append((corpus / "real-full" / "canon_eos-30d.cr2", None, _upload_direct))

    queued = [
        (path, portrait_expected, upload(alice, base, path))
        for path, portrait_expected, upload in files
    ]
    for _, _, asset in queued:
        assert asset["status"] == "queued"

    for path, portrait_expected, first in queued:
        asset = _wait_ready(alice, first["url"], server)
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
