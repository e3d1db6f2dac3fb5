"""The real service stack on loopback, for the service and load benchmarks and the fault tests.

``running_stack()`` starts what a production deployment runs, each piece of its own so a
benchmark never touches anyone's data and leaves nothing behind:

* a PostgreSQL database ``rawproc_bench_<hex>`` on the server of ``DATABASE_URL``
  (created, migrated, dropped after);
* Redis at ``REDIS_URL`` with queue names of its own (``bench-<hex>``, ``bench-<hex>.decode``),
  so no other worker on that Redis takes these messages;
* SeaweedFS (``weed mini``) on free loopback ports in a temporary folder, with one bucket;
* a gunicorn API server (the same command line as ``rawproc serve``), and
* Celery worker processes, started and stopped by the benchmark (``Stack.start_workers``),
  so it can compare one worker with two and watch a worker's memory.

Everything is stopped by its own process id; the database is dropped even on failure.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from harness.postgres import scratch_database
from harness.processes import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    ServiceUnavailable,
    free_ports,
    port_answers,
    stop_group,
    wait_healthy,
)
from harness.seaweedfs import SeaweedFS
from harness.service import (
    api_command,
    create_token,
    service_env,
    wait_for_ready_log,
    worker_command,
)

START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
BENCH_USER = "bench"


@dataclass
class Stack:
    """A running API server plus the workers a benchmark starts on it."""

    base: str
    token: str
    env: dict[str, str]
    workdir: Path
    decode_queue: str
    redis_url: str
    api: subprocess.Popen[bytes]
    seaweedfs: SeaweedFS
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def session(self) -> requests.Session:
        """An HTTP session authenticated as the benchmark user."""
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.token}"
        return session

    def start_workers(
        self,
        count: int,
        *,
        concurrency: int = 1,
        app: str = "config",
        beat: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> list[subprocess.Popen[bytes]]:
        """Start ``count`` Celery worker processes (prefork, ``concurrency`` children each)
        and wait until each has connected to the broker.

        ``app`` names the Celery application module (the fault tests wrap it), ``beat`` runs
        the periodic stale sweep in the worker, ``env`` adds settings for these workers only.
        """
        started: list[tuple[subprocess.Popen[bytes], Path]] = []
        for _ in range(count):
            # Numbered over the whole run: a restarted worker must not find its
            # predecessor's "ready." line in the log it waits on.
            index = len(list(self.workdir.glob("worker-*.log")))
            log = self.workdir / f"worker-{index}.log"
            hostname = f"bench{index}-{uuid.uuid4().hex[:6]}@%h"
            with log.open("ab") as out:
                process = subprocess.Popen(
                    worker_command(app=app, hostname=hostname, concurrency=concurrency, beat=beat),
                    env={**self.env, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True, cwd=self.workdir,
                )  # fmt: skip
            self.workers.append(process)
            started.append((process, log))
        for process, log in started:
            wait_for_ready_log(process, log, timeout=START_TIMEOUT)
        return [process for process, _ in started]

    def stop_workers(self) -> None:
        """Warm shutdown of every worker (SIGTERM), killing what outlives the timeout."""
        workers, self.workers = self.workers, []
        for process in workers:
            stop_group(process, STOP_TIMEOUT)

    def queue_length(self) -> int:
        """Messages waiting in the decode queue (not those a worker holds)."""
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            return int(client.llen(self.decode_queue))
        finally:
            client.close()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of every log in the work folder, to explain a failure."""
        parts = []
        for log in sorted(self.workdir.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(parts)


def _require(name: str, url: str, default_port: int) -> None:
    parts = urlsplit(url)
    if not port_answers(parts.hostname or "127.0.0.1", parts.port or default_port):
        raise ServiceUnavailable(
            f"{name} does not answer at {url}; start it or set its URL variable"
        )


@contextlib.contextmanager
def running_stack(
    *,
    web_workers: int = 2,
    threads: int = 4,
    extra_env: Mapping[str, str] | None = None,
    redis_url: str | None = None,
) -> Iterator[Stack]:
    """Start PostgreSQL database, queues, SeaweedFS and the API server; no workers yet.

    ``DATABASE_URL`` and ``REDIS_URL`` from the caller's environment name the servers
    (default: the local ones; ``redis_url`` picks another Redis, e.g. one a test restarts);
    everything else of the caller's service settings is ignored, apart from ``extra_env``
    (e.g. ``RAWPROC_WORKER_MAX_MEMORY_KB``).
    """
    server_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = redis_url or os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    _require("PostgreSQL", server_url, 5432)
    _require("Redis", redis_url, 6379)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    with (
        tempfile.TemporaryDirectory(prefix="rawproc-bench-") as tmp,
        scratch_database(server_url, "rawproc_bench") as database_url,
    ):
        workdir = Path(tmp)
        seaweedfs = SeaweedFS(workdir / "seaweedfs")
        seaweedfs.start()
        try:
            env = service_env(
                data_dir=workdir / "data",
                database_url=database_url,
                redis_url=redis_url,
                queue_prefix=prefix,
                seaweedfs=seaweedfs,
                bucket=seaweedfs.create_bucket("bench"),
                extra=extra_env,
            )
            token = create_token(BENCH_USER, env, workdir)
            (port,) = free_ports(1)
            log = workdir / "api.log"
            with log.open("wb") as out:
                api = subprocess.Popen(
                    api_command(f"127.0.0.1:{port}", web_workers=web_workers, threads=threads),
                    env=env, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True, cwd=workdir,
                )  # fmt: skip
            stack = Stack(
                base=f"http://127.0.0.1:{port}",
                token=token,
                env=env,
                workdir=workdir,
                decode_queue=env["RAWPROC_DECODE_QUEUE"],
                redis_url=redis_url,
                api=api,
                seaweedfs=seaweedfs,
            )
            try:
                wait_healthy(stack.base, api, log, name="API server", timeout=START_TIMEOUT)
                yield stack
            finally:
                stack.stop_workers()
                stop_group(api, STOP_TIMEOUT)
                _purge_queues(redis_url, prefix)
        finally:
            seaweedfs.stop()


def _purge_queues(redis_url: str, prefix: str) -> None:
    """Remove this run's queues and Kombu bindings from the shared Redis."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys: list[Any] = [*client.scan_iter(f"{prefix}*"), *client.scan_iter(f"*{prefix}*")]
        if keys:
            client.delete(*set(keys))
    finally:
        client.close()
