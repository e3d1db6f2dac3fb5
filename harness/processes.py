"""Process plumbing shared by every server: ports, environments, logs, readiness, stopping."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import requests

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"
SERVICE_CHECK_TIMEOUT = 5.0

# Anything in the caller's environment that would pick another backend or tune the service.
SERVICE_SETTINGS = (
    "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "RAWPROC_", "AWS_"
)  # fmt: skip
# SeaweedFS also listens on every HTTP port + 10000 for gRPC, so ports must leave room.
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


def wait_port(
    host: str,
    port: int,
    process: subprocess.Popen[bytes],
    *,
    name: str,
    timeout: float,
    log: Path | None = None,
) -> None:
    """Wait until ``host:port`` accepts connections; raise early if ``process`` dies."""
    deadline = time.monotonic() + timeout
    while not port_answers(host, port, timeout=0.5):
        if process.poll() is not None:
            tail = f":\n{log_tail(log)}" if log else ""
            raise ServiceUnavailable(f"{name} exited with {process.returncode}{tail}")
        if time.monotonic() > deadline:
            tail = f":\n{log_tail(log)}" if log else ""
            raise ServiceUnavailable(f"{name} did not listen on {host}:{port}{tail}")
        time.sleep(0.1)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent's environment minus ``SERVICE_SETTINGS``, plus ``extra``: a service
    started with it uses exactly the backends its caller chose, never an inherited one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SERVICE_SETTINGS)}
    return {**env, **(extra or {})}


def log_tail(log: Path | None, lines: int = 40) -> str:
    """The last lines of a service's log, to explain why it failed."""
    if log is None:
        return "(no log)"
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


def terminate(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM a server this harness started, killing it when it outlives ``timeout``."""
    _signal_then_kill(process, signal.SIGTERM, timeout)


def interrupt(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGINT a server (what Ctrl-C sends: ``rawproc serve`` stops its children and exits 0),
    killing it when it outlives ``timeout``."""
    _signal_then_kill(process, signal.SIGINT, timeout)


def _signal_then_kill(
    process: subprocess.Popen[bytes] | None, signum: signal.Signals, timeout: float
) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signum)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def stop_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process, then SIGKILL its process group (its own children) when it is done.

    For processes started with ``start_new_session=True``: a Celery worker's pool children
    or gunicorn's workers go with it.
    """
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
