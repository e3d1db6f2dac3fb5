"""The image and the compose stack, built here and run as a user would run them.

Images build from a Debian base made on this machine (no registry is reachable from CI)
and the stack runs ``compose.yaml`` with the local PostgreSQL, Redis and SeaweedFS images.
Everything is driven from outside the containers: uploads through the published API
port, renditions downloaded through the signed URLs on the published S3 port, a decode
worker container killed with SIGKILL in the middle of a task.
"""

from __future__ import annotations

import hashlib
import io
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from tests.container.conftest import APP_IMAGE, Images, Stack
from tests.container.docker import REPO, Docker
from tests.fixtures.dngmaker import make_dng
from tests.samples import FIXTURES
from tests.service.live import upload_multipart

pytestmark = [pytest.mark.container, pytest.mark.timeout(2400)]

READY_TIMEOUT = 240.0
FINAL = ("ready", "failed")


def _wait_final(stack: Stack, asset_id: str, timeout: float = READY_TIMEOUT) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        url = f"{stack.api}/api/assets/{asset_id}/"
        answer = requests.get(url, headers=stack.auth(), timeout=30)
        assert answer.status_code == 200, answer.text
        asset: dict[str, Any] = answer.json()
        if asset["status"] in FINAL:
            return asset
        if time.monotonic() > deadline:
            pytest.fail(f"asset {asset_id} still {asset['status']}:\n{stack.compose.logs()}")
        time.sleep(0.5)


def _check_renditions(asset: dict[str, Any]) -> None:
    """Every variant downloads through its signed URL, whole, as the image it claims."""
    assert asset["status"] == "ready", asset
    names = {variant["name"] for variant in asset["variants"]}
    assert {"thumbnail", "preview", "full"} <= names, names
    for variant in asset["variants"]:
        answer = requests.get(variant["url"], timeout=60)
        assert answer.status_code == 200, (variant["url"], answer.text[:300])
        assert len(answer.content) == variant["size"]
        with Image.open(io.BytesIO(answer.content)) as picture:
            assert picture.format == "JPEG"
            assert picture.size == (variant["width"], variant["height"])
    # Signed: the same URL without its signature is refused.
    unsigned = asset["variants"][0]["url"].split("?", 1)[0]
    assert requests.get(unsigned, timeout=30).status_code == 403


def _original_bytes(stack: Stack, asset: dict[str, Any]) -> bytes:
    answer = requests.get(asset["original_url"], headers=stack.auth(), timeout=60)
    assert answer.status_code == 200, answer.text[:300]
    return answer.content


def _session(stack: Stack) -> requests.Session:
    session = requests.Session()
    session.headers.update(stack.auth())
    return session


def test_image_is_lean_labelled_and_runs_as_a_service_user(
    docker: Docker, images: Images, capsys: pytest.CaptureFixture[str]
) -> None:
    info = docker.inspect(APP_IMAGE)
    config: dict[str, Any] = info["Config"]  # type: ignore[assignment]
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert config["Labels"]["org.opencontainers.image.version"] == version
    assert "org.opencontainers.image.source" in config["Labels"]
    assert config["User"] == "rawproc"
    assert "/data" in config["Volumes"]
    assert "/api/health/" in Path(REPO / "docker" / "healthcheck.py").read_text()
    assert config["Healthcheck"]["Test"][-1] == "/app/healthcheck.py"
    probe = docker.run(
        "run", "--rm", "--entrypoint", "sh", APP_IMAGE, "-c",
        "id -u; for tool in gcc cc c++ clang make ld; do command -v $tool; done; "
        "python -c 'import rawpy, cv2, psycopg, celery, gunicorn; print(\"imports ok\")'",
    )  # fmt: skip
    lines = probe.split()
    assert lines[0] != "0", "the image runs as root"
    assert lines[1:] == ["imports", "ok"], f"compilers or missing packages: {probe}"
    size_mb = int(info["Size"]) / 1e6  # type: ignore[call-overload]
    with capsys.disabled():
        print(f"\n[container] image {APP_IMAGE}: {size_mb:.0f} MB on base {images.base}; "
              f"base and images ready in {images.build_seconds:.0f} s")  # fmt: skip


def test_raw_files_uploaded_from_outside_become_ready_and_download(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():
        print(f"\n[container] compose up to first healthy answer: {stack.seconds_to_healthy:.1f} s")
    uploaded: dict[str, bytes] = {}
    for path in sorted((FIXTURES / "raw").iterdir()):
        uploaded[upload_multipart(_session(stack), stack.api, path)["id"]] = path.read_bytes()
    # A generated DNG through a direct upload: the bytes go straight to the bucket.
    dng = make_dng(tmp_path / "direct.dng", width=900, height=600, preview_size=400, seed=7)
    data = dng.read_bytes()
    answer = requests.post(
        f"{stack.api}/api/uploads/",
        headers=stack.auth(),
        json={"filename": dng.name, "size": len(data), "content_type": "image/x-adobe-dng"},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    reservation = answer.json()
    upload = reservation["upload"]
    assert upload["url"].startswith(stack.s3), upload["url"]
    stored = requests.post(
        upload["url"], data=upload["fields"], files={upload["file_field"]: (dng.name, data)},
        timeout=120,
    )  # fmt: skip
    assert stored.status_code in (200, 201, 204), stored.text
    completed = requests.post(reservation["complete_url"], headers=stack.auth(), timeout=120)
    assert completed.status_code == 202, completed.text
    uploaded[reservation["asset"]["id"]] = data

    for asset_id, original in uploaded.items():
        asset = _wait_final(stack, asset_id)
        _check_renditions(asset)
        assert asset["sha256"] == hashlib.sha256(original).hexdigest()
        assert _original_bytes(stack, asset) == original


def test_a_worker_container_killed_mid_task_leaves_the_asset_to_end_ready(
    stack: Stack, docker: Docker, tmp_path: Path
) -> None:
    # Big enough, with no embedded preview, that every rendition needs a full decode.
    dng = make_dng(tmp_path / "big.dng", width=6000, height=4000, preview="none", seed=11)
    workers = stack.compose.container_ids("worker")  # found first: the kill follows at once
    assert len(workers) >= 2
    asset_id = upload_multipart(_session(stack), stack.api, dng)["id"]
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        status = requests.get(
            f"{stack.api}/api/assets/{asset_id}/", headers=stack.auth(), timeout=30
        ).json()["status"]
        if status == "processing":
            break
        assert status == "queued", f"the task ended ({status}) before the worker was killed"
        assert time.monotonic() < deadline, stack.compose.logs()
        time.sleep(0.1)
    # The whole container goes, as a lost machine would: no warm shutdown, no ack.
    docker.run("kill", "--signal", "KILL", *workers)
    killed_during = requests.get(
        f"{stack.api}/api/assets/{asset_id}/", headers=stack.auth(), timeout=30
    ).json()
    assert killed_during["status"] == "processing", killed_during
    stack.compose.run("up", "-d", "--no-recreate", "--scale", "worker=2", "worker")
    asset = _wait_final(stack, asset_id)
    _check_renditions(asset)
    assert asset["attempts"] >= 2, asset
