"""The service on several hosts: throughput and faults, measured over a real network.

``harness.cluster`` makes the hosts (``svc`` with PostgreSQL, Redis and SeaweedFS; ``api``;
workers ``w1`` and ``w2``, each pinned to its own core; ``beat``), each in its own network
namespace on a private bridge. This script is the client, in the root namespace: it uploads
through the API host, half as multipart uploads and half straight to the S3 host
(``POST /api/uploads/``, the presigned form, ``complete``), and measures:

1. **throughput**: files per minute with one worker host, then with two, on the same
   files; the upload answer time (p50/p95) over both;
2. **faults**, each while uploads are being processed: a worker host's link cut mid-task
   and restored later; a worker killed with SIGKILL (and its machine replaced); the Redis
   server restarted; the API server restarted (a rolling release); a worker's database
   connection cut for a few seconds. For each: how many assets it affected and the time
   from the fault until the last of them was ready.

At the end every asset is checked: ``ready`` (and how many are not), lost (an upload the
API accepted whose asset is gone), duplicated (two assets for one upload, or two variants
of one rendition), stuck (still queued or processing). Files: the corpus' TIFF-family
camera files when ``../shared/samples`` is present, generated DNGs otherwise; every upload
gets unique bytes appended after the end of the file, where RAW readers never look, so
deduplication never stands in for the work.

    uv run python -m benchmarks.cluster --quick   # about 5 minutes, 50+ uploads
    uv run python -m benchmarks.cluster           # longer; writes the cluster section

The last line printed is one JSON object (see ``benchmarks.cluster_report.summary``).
Needs root and iproute2 (network namespaces); everything it made is removed at the end.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import requests

from benchmarks.common import load_average
from harness.cluster import Cluster, cluster_unavailable, running_cluster

UPLOAD_RETRY_SECONDS = 90.0
DONE_TIMEOUT = 300.0
POLL_SECONDS = 0.5
CLIENT_THREADS = 4
# Formats that address their data by offsets from the start: appended bytes are never read.
APPENDABLE = (".dng", ".nef", ".cr2", ".arw", ".pef", ".orf", ".rw2")
CORPUS_PATTERNS = ("real-full/*", "raw/*.dng", "synthetic/dng_12mp*")
FAULTS = ("worker_link_cut", "worker_killed", "redis_restarted", "api_restarted", "db_cut")


@dataclass(frozen=True)
class Plan:
    """How much work a run does."""

    per_phase: int  # uploads in each throughput phase
    per_fault: int  # uploads in flight around each fault
    link_cut_s: float  # how long a worker host stays cut off (past the visibility timeout)
    db_cut_s: float

    @classmethod
    def quick(cls) -> Plan:
        return cls(per_phase=12, per_fault=6, link_cut_s=20, db_cut_s=6)

    @classmethod
    def full(cls) -> Plan:
        return cls(per_phase=40, per_fault=12, link_cut_s=30, db_cut_s=8)

    @classmethod
    def smoke(cls) -> Plan:
        """The suite's short run: a few uploads, every kind of fault."""
        return cls(per_phase=2, per_fault=2, link_cut_s=18, db_cut_s=4)


@dataclass
class Upload:
    index: int
    name: str
    direct: bool
    status: int = 0  # the API's final answer: 202 new asset, 200 an existing one
    asset_id: str = ""
    url: str = ""
    answer_s: float = 0.0
    attempts: int = 0
    error: str = ""
    grant: dict[str, Any] | None = None  # a direct upload's reservation, kept across retries
    stored: bool = False


@dataclass
class FaultResult:
    kind: str
    affected: int
    recovered_s: float
    note: str = ""


@dataclass
class Run:
    """Everything measured; ``benchmarks.cluster_report`` turns it into text."""

    hosts: int
    files: str
    uploads: list[Upload] = field(default_factory=list)
    files_per_min: dict[str, float] = field(default_factory=dict)
    faults: list[FaultResult] = field(default_factory=list)
    assets: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    load_at_start: float | None = None


# --- inputs ------------------------------------------------------------------------------


def corpus(workdir: Path, samples: Path | None) -> tuple[list[Path], str]:
    """Camera files from the corpus, or small generated DNGs; and a description."""
    found: list[Path] = []
    if samples is not None:
        for pattern in CORPUS_PATTERNS:
            found += [p for p in sorted(samples.glob(pattern)) if p.suffix.lower() in APPENDABLE]
    if found:
        return found, "corpus files: " + ", ".join(f"`{p.name}`" for p in found)
    from tests.fixtures.dngmaker import make_dng

    # Without an embedded preview each needs a full decode of a few seconds, so a fault
    # injected once one is processing finds work in flight however fast the machine is.
    generated = [
        make_dng(workdir / f"generated-{i}.dng", width=3000, height=2000, preview="none", seed=i)
        for i in range(3)
    ]
    return generated, "generated 6 MP DNGs without previews (sample corpus not found)"


def unique(data: bytes, index: int) -> bytes:
    return data + b"\0rawproc-cluster" + index.to_bytes(4, "big") + uuid.uuid4().bytes


# --- the client --------------------------------------------------------------------------


class Client:
    """Uploads and reads assets as an outside client would, retrying what a network or a
    restarting server refuses (a new attempt of the same bytes is deduplicated)."""

    def __init__(self, cluster: Cluster, files: Sequence[Path]) -> None:
        self.cluster = cluster
        self.files = list(files)
        self.contents = [p.read_bytes() for p in self.files]
        self._local = threading.local()
        self._next = 0
        self._lock = threading.Lock()
        self.uploads: list[Upload] = []

    @property
    def api(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = self.cluster.session()
        session: requests.Session = self._local.session
        return session

    def upload(self) -> Upload:
        with self._lock:
            index, self._next = self._next, self._next + 1
        path = self.files[index % len(self.files)]
        upload = Upload(index, f"c{index:04d}-{path.name}", direct=index % 2 == 1)
        with self._lock:
            self.uploads.append(upload)
        data = unique(self.contents[index % len(self.files)], index)
        deadline = time.monotonic() + UPLOAD_RETRY_SECONDS
        while True:
            upload.attempts += 1
            started = time.perf_counter()
            try:
                answer = (
                    self._direct(upload, data) if upload.direct else self._multipart(upload, data)
                )
            except requests.RequestException as exc:
                upload.error = type(exc).__name__
            else:
                if answer.status_code in (200, 202):
                    body = answer.json()
                    upload.status = answer.status_code
                    upload.asset_id, upload.url = str(body["id"]), str(body["url"])
                    upload.answer_s = time.perf_counter() - started
                    upload.error = ""
                    return upload
                upload.error = f"HTTP {answer.status_code}"
                if answer.status_code < 500:
                    return upload
            if time.monotonic() > deadline:
                return upload
            time.sleep(1.0)

    def _multipart(self, upload: Upload, data: bytes) -> requests.Response:
        return self.api.post(
            f"{self.cluster.base}/api/assets/",
            files={"file": (upload.name, data)},
            timeout=120,
        )

    def _direct(self, upload: Upload, data: bytes) -> requests.Response:
        """Reserve, store at the S3 host, complete; a retry resumes at the step that failed,
        so a reservation is never abandoned."""
        if upload.grant is None:
            created = self.api.post(
                f"{self.cluster.base}/api/uploads/",
                json={"filename": upload.name, "size": len(data)},
                timeout=60,
            )
            if created.status_code != 201:
                return created
            upload.grant = dict(created.json())
        grant = upload.grant["upload"]
        if not upload.stored:
            stored = requests.post(
                grant["url"],
                data=grant["fields"],
                files={grant["file_field"]: (upload.name, data)},
                timeout=120,
            )
            stored.raise_for_status()
            upload.stored = True
        return self.api.post(upload.grant["complete_url"], timeout=120)

    def asset(self, url: str) -> dict[str, Any]:
        answer = self.api.get(url, timeout=60)
        answer.raise_for_status()
        return dict(answer.json())

    def all_assets(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page: str | None = f"{self.cluster.base}/api/assets/?page_size=200"
        while page:
            body = self.api.get(page, timeout=120).json()
            found += body["results"]
            page = body.get("next")
        return found

    def statuses(self, uploads: Sequence[Upload]) -> dict[str, str]:
        """asset id -> status, for the accepted ones among ``uploads``."""
        wanted = {u.asset_id for u in uploads if u.asset_id}
        return {a["id"]: a["status"] for a in self._retrying(self.all_assets) if a["id"] in wanted}

    def _retrying(self, read: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """Reads go on while the API host restarts."""
        deadline = time.monotonic() + UPLOAD_RETRY_SECONDS
        while True:
            try:
                return read()
            except (requests.RequestException, ValueError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def wait_done(self, uploads: Sequence[Upload], timeout: float = DONE_TIMEOUT) -> float:
        """Wait until every accepted upload's asset is ready or failed; return when (monotonic)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            statuses = self.statuses(uploads)
            accepted = [u for u in uploads if u.asset_id]
            if len(statuses) >= len({u.asset_id for u in accepted}) and all(
                s in ("ready", "failed") for s in statuses.values()
            ):
                return time.monotonic()
            time.sleep(POLL_SECONDS)
        raise TimeoutError(f"assets not done after {timeout:.0f} s")


def submit(client: Client, pool: ThreadPoolExecutor, count: int) -> list[Future[Upload]]:
    return [pool.submit(client.upload) for _ in range(count)]


# --- the phases --------------------------------------------------------------------------


def throughput(client: Client, pool: ThreadPoolExecutor, count: int) -> tuple[float, list[Upload]]:
    """Files per minute: ``count`` uploads, from the first upload to the last asset done."""
    started = time.monotonic()
    uploads = [f.result() for f in submit(client, pool, count)]
    finished = client.wait_done(uploads)
    return count / ((finished - started) / 60), uploads


def wait_in_flight(client: Client, uploads: list[Future[Upload]], timeout: float = 60.0) -> None:
    """Until some of the uploads are being processed (or all are already done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        accepted = [f.result() for f in uploads if f.done()]
        statuses = client.statuses(accepted) if accepted else {}
        if any(s == "processing" for s in statuses.values()):
            return
        if len(statuses) == len(uploads) and all(
            s in ("ready", "failed") for s in statuses.values()
        ):
            return
        time.sleep(0.2)


def fault(
    kind: str, cluster: Cluster, client: Client, pool: ThreadPoolExecutor, plan: Plan
) -> FaultResult:
    """Break one thing while uploads are processed; measure until they are all done."""
    futures = submit(client, pool, plan.per_fault)
    wait_in_flight(client, futures)
    done_before = {
        i for i, s in client.statuses([f.result() for f in futures if f.done()]).items()
        if s in ("ready", "failed")
    }  # fmt: skip
    injected = time.monotonic()
    note = ""
    if kind == "worker_link_cut":
        cluster.net.cut(cluster.host("w1"))
        time.sleep(plan.link_cut_s)
        cluster.net.restore(cluster.host("w1"))
    elif kind == "worker_killed":
        cluster.kill_worker("w1")
        time.sleep(2.0)
        cluster.start_worker("w1")  # the machine is replaced
    elif kind == "redis_restarted":
        cluster.restart_redis()
    elif kind == "api_restarted":
        more = submit(client, pool, 2)  # uploads arriving during the restart
        cluster.restart_api()
        futures += more
    elif kind == "db_cut":
        if cluster.database_cut_supported():
            cluster.cut_database("w1")
            time.sleep(plan.db_cut_s)
            cluster.restore_database("w1")
        else:
            note = "iptables missing: the worker host's whole link was cut instead"
            cluster.net.cut(cluster.host("w1"))
            time.sleep(plan.db_cut_s)
            cluster.net.restore(cluster.host("w1"))
    else:
        raise ValueError(kind)
    uploads = [f.result() for f in futures]
    finished = client.wait_done(uploads)
    affected = len({u.asset_id for u in uploads if u.asset_id} - done_before)
    return FaultResult(kind, affected, round(finished - injected, 1), note)


def measure(plan: Plan, samples: Path | None, log: Callable[[str], None] = print) -> Run:
    """The whole run on a cluster made for it."""
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="rawproc-cluster-") as tmp,
        running_cluster(Path(tmp)) as cluster,
        ThreadPoolExecutor(CLIENT_THREADS) as pool,
    ):
        files, description = corpus(Path(tmp), samples)
        run = Run(hosts=cluster.host_count, files=description, load_at_start=load_average())
        client = Client(cluster, files)
        log(f"cluster of {cluster.host_count} hosts up in {time.monotonic() - started:.0f} s")
        try:
            cluster.start_worker("w1")
            rate, _ = throughput(client, pool, plan.per_phase)
            run.files_per_min["1"] = round(rate, 1)
            log(f"1 worker host: {rate:.1f} files/min")
            cluster.start_worker("w2")
            rate, _ = throughput(client, pool, plan.per_phase)
            run.files_per_min["2"] = round(rate, 1)
            log(f"2 worker hosts: {rate:.1f} files/min")
            for kind in FAULTS:
                result = fault(kind, cluster, client, pool, plan)
                run.faults.append(result)
                log(f"{kind}: {result.affected} affected, all done {result.recovered_s} s after")
            run.assets = client._retrying(client.all_assets)
        except Exception:
            log(cluster.log_tail())
            raise
        run.uploads = list(client.uploads)
    run.elapsed_s = round(time.monotonic() - started, 1)
    return run


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the same clean-up as Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.cluster_report import section, summary
    from benchmarks.common import DOC, write_sections
    from tests.samples import samples_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50+ uploads, about 5 minutes")
    parser.add_argument("--doc", type=Path, default=DOC, help="where the full run writes")
    args = parser.parse_args(argv)
    reason = cluster_unavailable()
    if reason:
        print(f"cannot run the cluster here: {reason}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    plan = Plan.quick() if args.quick else Plan.full()
    run = measure(plan, samples_dir())
    result = summary(run)
    if not args.quick:
        write_sections(args.doc, {"cluster": section(run, plan)})
    import json

    print(json.dumps(result))
    clean = result["lost"] == result["duplicated"] == result["stuck"] == 0
    return 0 if clean and result["ready"] == result["uploads"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
