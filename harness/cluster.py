"""The service on a cluster of hosts: one network namespace per machine, as deployed.

``running_cluster`` makes a private bridge and these hosts on it, each with its own address
and nothing shared through loopback:

* ``svc``: PostgreSQL (a private server), Redis (AOF on) and SeaweedFS (``weed mini``);
* ``api``: gunicorn, the API;
* ``w1``, ``w2``: a Celery worker each, on the decode and default queues, pinned to its own
  core (``taskset``);
* ``beat``: the one Celery beat, which sends the periodic stale sweep.

Every service machine gets the environment a real deployment gives it (``DATABASE_URL``,
``REDIS_URL``, ``AWS_*``, one shared ``SECRET_KEY``) and a data folder of its own. The
client (the caller) stays in the root namespace and reaches the API host, and the S3 host
for direct uploads, over the bridge. ``Cluster`` also breaks things the way machines break:
a host's link cut and restored, a worker killed with SIGKILL and replaced, Redis restarted,
the API server restarted, a worker's database connection cut.

Everything is removed at the end, also after a failure or Ctrl-C: processes by their own
ids, then the namespaces, links and the firewall rule.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

from harness.hosts import Host, Network, namespaces_unavailable
from harness.postgres import PostgresServer
from harness.processes import ServiceUnavailable, stop_group, wait_healthy
from harness.redis import RedisServer
from harness.seaweedfs import SeaweedFS
from harness.service import (
    api_command,
    beat_command,
    create_token,
    service_env,
    wait_for_ready_log,
    worker_command,
)

HOSTS = ("svc", "api", "w1", "w2", "beat")
WORKER_HOSTS = ("w1", "w2")
API_PORT = 8000
START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
CLUSTER_USER = "cluster"
# Short recovery timeouts, so that a fault is over in seconds rather than the production
# defaults' minutes; docs/deploy.md says how each maps onto a deployment's settings.
CLUSTER_ENV = {
    "RAWPROC_VISIBILITY_TIMEOUT": "15",
    "RAWPROC_UNACKED_RESTORE_THROTTLE": "1",
    "RAWPROC_STALE_SWEEP_SECONDS": "3",
    "RAWPROC_STALE_QUEUED_SECONDS": "20",
    "RAWPROC_RETRY_BACKOFF_MAX": "2",
    "RAWPROC_TASK_SOFT_TIME_LIMIT": "60",
    "RAWPROC_TASK_HARD_TIME_LIMIT": "75",
    "RAWPROC_BROKER_TIMEOUT": "4",
    "RAWPROC_UPLOAD_RATE": "",
}


def cluster_unavailable() -> str | None:
    """Why a cluster cannot be made on this machine, or ``None`` when it can."""
    reason = namespaces_unavailable()
    if reason:
        return reason
    for tool in ("setpriv", "taskset", "redis-server"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    try:
        PostgresServer(Path("/nonexistent"))
    except ServiceUnavailable as exc:
        return str(exc)
    return None


@dataclass
class Cluster:
    """The running hosts and their servers, and the faults that can be done to them."""

    net: Network
    workdir: Path
    postgres: PostgresServer
    redis: RedisServer
    seaweedfs: SeaweedFS
    env: dict[str, str]
    token: str = ""
    api: subprocess.Popen[bytes] | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    beat: subprocess.Popen[bytes] | None = None
    _worker_starts: int = 0

    def host(self, name: str) -> Host:
        return self.net.hosts[name]

    @property
    def base(self) -> str:
        return f"http://{self.host('api').address}:{API_PORT}"

    @property
    def host_count(self) -> int:
        return len(self.net.hosts)

    def session(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.token}"
        return session

    def _env_for(self, host: str) -> dict[str, str]:
        """The machine's environment: the shared settings, a data folder of its own."""
        data = self.workdir / "hosts" / host
        data.mkdir(parents=True, exist_ok=True)
        return {**self.env, "RAWPROC_DATA_DIR": str(data)}

    def _popen(self, host: str, argv: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = self.workdir / f"{log_name}.log"
        with log.open("ab") as out:
            return subprocess.Popen(
                self.host(host).command(argv),
                env=self._env_for(host), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.workdir,
            )  # fmt: skip

    # --- the service's processes ----------------------------------------------------------

    def start_api(self, *, web_workers: int = 2, threads: int = 4) -> None:
        bind = f"{self.host('api').address}:{API_PORT}"
        self.api = self._popen(
            "api", api_command(bind, web_workers=web_workers, threads=threads), "api"
        )
        wait_healthy(
            self.base, self.api, self.workdir / "api.log", name="API host", timeout=START_TIMEOUT
        )

    def stop_api(self) -> None:
        process, self.api = self.api, None
        if process is not None:
            stop_group(process, STOP_TIMEOUT)

    def start_worker(self, host: str) -> subprocess.Popen[bytes]:
        """A worker on ``host``, pinned to the host's own core, taking decode jobs."""
        self._worker_starts += 1
        cpu = str(WORKER_HOSTS.index(host) % max(1, os.cpu_count() or 1))
        name = f"{host}-{self._worker_starts}"
        argv = [
            "taskset", "-c", cpu,
            *worker_command(
                hostname=f"{name}-{uuid.uuid4().hex[:4]}@{host}",
                concurrency=1,
                queues=f"{self.env['RAWPROC_DECODE_QUEUE']},{self.env['RAWPROC_DEFAULT_QUEUE']}",
            ),
        ]  # fmt: skip
        process = self._popen(host, argv, f"worker-{name}")
        self.workers[host] = process
        wait_for_ready_log(process, self.workdir / f"worker-{name}.log", timeout=START_TIMEOUT)
        return process

    def stop_worker(self, host: str) -> None:
        process = self.workers.pop(host, None)
        if process is not None:
            stop_group(process, STOP_TIMEOUT)

    def start_beat(self) -> None:
        schedule = self.workdir / "hosts" / "beat" / "celerybeat-schedule"
        self.beat = self._popen("beat", beat_command(schedule), "beat")

    # --- faults ---------------------------------------------------------------------------

    def kill_worker(self, host: str) -> None:
        """SIGKILL the worker and its pool, as when its machine dies; no goodbye to anyone."""
        process = self.workers.pop(host)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def restart_redis(self) -> None:
        """Stop Redis (it writes its append-only file) and start it again on the same port."""
        self.redis.stop()
        self.redis.start()

    def restart_api(self) -> None:
        """A rolling release on one API machine: SIGTERM, then the new server."""
        self.stop_api()
        self.start_api()

    def cut_database(self, host: str) -> None:
        """Drop the host's packets to PostgreSQL (its other connections stay up)."""
        self._database_rule(host, "-A")

    def restore_database(self, host: str) -> None:
        self._database_rule(host, "-D")

    def _database_rule(self, host: str, action: str) -> None:
        rule = [
            "iptables", action, "OUTPUT", "-p", "tcp", "-d", self.host("svc").address,
            "--dport", str(self.postgres.port), "-j", "DROP",
        ]  # fmt: skip
        subprocess.run(self.host(host).command(rule), check=True, capture_output=True)

    def database_cut_supported(self) -> bool:
        probe = self.host("w1").command(["iptables", "-L", "OUTPUT", "-n"])
        return (
            shutil.which("iptables") is not None
            and subprocess.run(probe, capture_output=True).returncode == 0
        )

    def stop(self) -> None:
        """Stop every process this cluster started, by its own id."""
        for host in list(self.workers):
            self.stop_worker(host)
        if self.beat is not None:
            stop_group(self.beat, STOP_TIMEOUT)
            self.beat = None
        self.stop_api()
        self.seaweedfs.stop()
        self.redis.stop()
        self.postgres.stop()

    def log_tail(self, lines: int = 25) -> str:
        parts = []
        for log in sorted(self.workdir.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(parts)


@contextlib.contextmanager
def running_cluster(
    workdir: Path, *, extra_env: Mapping[str, str] | None = None
) -> Iterator[Cluster]:
    """Make the hosts, start every server on its host, yield the cluster, remove it all.

    The API host and the beat are started; workers are started by the caller
    (``Cluster.start_worker``), so it can measure one worker host against two.
    """
    reason = cluster_unavailable()
    if reason:
        raise ServiceUnavailable(f"cannot make a cluster here: {reason}")
    net = Network()
    cluster: Cluster | None = None
    workdir.chmod(0o755)  # the database server runs as the postgres user
    try:
        net.create()
        for name in HOSTS:
            net.add_host(name)
        svc = net.hosts["svc"]
        postgres = PostgresServer(workdir / "postgres", svc)
        redis = RedisServer(workdir / "redis", svc)
        seaweedfs = SeaweedFS(workdir / "seaweedfs", host=svc)
        prefix = f"cluster-{net.run}"
        cluster = Cluster(
            net=net,
            workdir=workdir,
            postgres=postgres,
            redis=redis,
            seaweedfs=seaweedfs,
            env={},
        )
        postgres.init()
        postgres.start()
        postgres.create_database()
        redis.start()
        seaweedfs.start()
        cluster.env = service_env(
            data_dir=workdir / "hosts" / "client",
            database_url=postgres.url,
            redis_url=redis.url,
            queue_prefix=prefix,
            seaweedfs=seaweedfs,
            bucket=seaweedfs.create_bucket("cluster"),
            extra={
                **CLUSTER_ENV,
                # The API machine's own name; plain HTTP on the private network (a real
                # deployment terminates TLS at its load balancer).
                "ALLOWED_HOSTS": net.hosts["api"].address,
                "RAWPROC_HTTPS": "false",
                **(extra_env or {}),
            },
        )
        # Migrations and the client's user, run on the API host as a release step would.
        cluster.token = create_token(
            CLUSTER_USER, cluster._env_for("api"), workdir, host=net.hosts["api"]
        )
        cluster.start_api()
        cluster.start_beat()
        yield cluster
    finally:
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.stop()
        net.destroy()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
