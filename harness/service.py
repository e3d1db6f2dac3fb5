"""The service's own processes as the harness starts them: API server, workers, beat.

The command lines are the production ones (the same as ``rawproc serve`` and
``docs/deploy.md``), and the environment is what a deployed machine has: the database,
Redis and S3 addresses and keys, a shared ``SECRET_KEY``, queues of the run's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from harness.hosts import LOOPBACK, Host
from harness.processes import ServiceUnavailable, clean_env, log_tail
from harness.seaweedfs import SeaweedFS

REPO_ROOT = Path(__file__).resolve().parent.parent


def service_env(
    *,
    data_dir: Path,
    database_url: str,
    redis_url: str,
    queue_prefix: str,
    seaweedfs: SeaweedFS,
    bucket: str,
    secret_key: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The settings of one service machine, on a clean copy of the caller's environment."""
    env = clean_env()
    # The project root on the path: the children run from a work folder (no stray .env).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env.update(
        {
            "RAWPROC_DATA_DIR": str(data_dir),
            "RAWPROC_LOG_LEVEL": "WARNING",
            "SECRET_KEY": secret_key or uuid.uuid4().hex * 2,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "RAWPROC_DEFAULT_QUEUE": queue_prefix,
            "RAWPROC_DECODE_QUEUE": f"{queue_prefix}.decode",
            "AWS_BUCKET_NAME": bucket,
            "AWS_ACCESS_KEY_ID": seaweedfs.access_key,
            "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_key,
            "AWS_S3_ENDPOINT_URL": seaweedfs.endpoint_url,
            "AWS_S3_REGION_NAME": seaweedfs.region,
            "AWS_S3_ADDRESSING_STYLE": "path",
            # One benchmark user uploads far beyond the per-user limit; the throttle stays on,
            # as deployed, with a limit it never reaches.
            "RAWPROC_UPLOAD_RATE": "1000000/min",
            **(extra or {}),
        }
    )
    return env


def create_token(user: str, env: Mapping[str, str], cwd: Path, host: Host = LOOPBACK) -> str:
    """Create ``user`` (migrating the database first if needed) and return an API token."""
    return subprocess.run(
        host.command([sys.executable, "-m", "rawproc.cli", "token", user]),
        env=dict(env), check=True, capture_output=True, text=True, cwd=cwd,
    ).stdout.strip()  # fmt: skip


def api_command(bind: str, *, web_workers: int, threads: int) -> list[str]:
    """gunicorn as ``rawproc serve`` and the deployment guide run it."""
    return [
        sys.executable, "-m", "gunicorn", "config.wsgi:application",
        "--bind", bind, "--workers", str(web_workers),
        "--worker-class", "gthread", "--threads", str(threads),
        "--timeout", "300", "--graceful-timeout", "10",
    ]  # fmt: skip


def worker_command(
    *,
    app: str = "config",
    hostname: str,
    concurrency: int,
    beat: bool = False,
    queues: str | None = None,
) -> list[str]:
    """A Celery worker (prefork), optionally on named queues only, optionally with beat."""
    return [
        sys.executable, "-m", "celery", "-A", app, "worker",
        *(["--beat"] if beat else []),
        *(["--queues", queues] if queues else []),
        "--pool", "prefork", "--concurrency", str(concurrency),
        "--loglevel", "INFO", "--hostname", hostname,
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip


def beat_command(schedule: Path) -> list[str]:
    """The one beat of a deployment: it sends the periodic sweeps."""
    return [
        sys.executable, "-m", "celery", "-A", "config", "beat",
        "--loglevel", "INFO", "--schedule", str(schedule),
    ]  # fmt: skip


def wait_for_ready_log(process: subprocess.Popen[bytes], log: Path, *, timeout: float) -> None:
    """A Celery worker prints ``ready.`` once it consumes; fail early if it dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceUnavailable(
                f"worker exited with {process.returncode}:\n{log_tail(log, 30)}"
            )
        if log.is_file() and " ready." in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise ServiceUnavailable(
        f"worker did not become ready in {timeout:.0f} s:\n{log_tail(log, 30)}"
    )
