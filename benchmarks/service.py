"""The service end to end: throughput, latency, overhead outside the engine, worker memory.

Runs the real stack of ``harness.stack`` (PostgreSQL, Redis, SeaweedFS, gunicorn, Celery
workers) and drives it over HTTP only, as a client would:

1. **empty queue**: one worker; a 24 MP file is uploaded, waited for, uploaded again ...;
   upload answer time, upload-to-ready time, and where the time went per stage;
2. **throughput**: the corpus is queued while no worker runs, then 1 (and later 2) worker
   processes (prefork pool, concurrency 1 each) are started; files per minute is the number
   of files over the span from the first start of processing to the last result;
3. **burst**: with 2 workers, 100 uploads of a 24 MP file from 4 client threads, then small
   probe uploads while the workers are kept saturated (the burst's files sent back for
   processing whenever fewer than 4 messages wait), at normal priority, then reniced, then
   with the workers pinned to CPU 0: upload-to-ready and answer times, against small
   uploads to an idle service;
4. **memory**: one worker processes 500 files, small synthetic DNGs (half of them without
   an embedded preview, so they decode from sensor data) with a corpus file every 25th;
   the RSS of the worker and its pool child is sampled every second, with
   ``worker_max_memory_per_child`` off so no recycling hides growth;
5. **sizing**: each corpus file alone in a fresh worker, with the default renditions and
   with a full-size one: the pool process's peak memory (VmHWM).

Every upload carries unique bytes (a nonce appended after the end of the TIFF structure,
which RAW readers ignore), so deduplication never answers instead of the worker. Times
are the service's own: the asset's ``processed_at`` and per-stage ``timings`` (the
engine's stages plus ``queue_wait``, ``download``, ``upload`` and ``total``); upload
start times are taken by the client on the same machine clock.

    uv run python -m benchmarks.service           # about 10 minutes; updates docs/benchmarks.md
    uv run python -m benchmarks.service --quick   # about 3 minutes, fewer files
    uv run python -m benchmarks.service --quick --baseline main --empty-runs 10
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

import psutil
import requests

from benchmarks.common import (
    DOC,
    REPO_ROOT,
    WORK_DIR,
    baseline_checkout,
    environment,
    load_average,
    load_note,
    load_result,
    save_result,
    short_revision,
)
from harness.stack import Stack, running_stack
from tests.fixtures.dngmaker import PreviewMode, make_dng, sensor_size_for_megapixels
from tests.samples import samples_dir

LATENCY_FILE = "synthetic/dng_24mp_nikon-d7100_o1.dng"
CORPUS = (
    LATENCY_FILE,
    "synthetic/nef_24mp_nikon-d7100_uncompressed.nef",
    "real-full/*",
)
SERVICE_STAGES = frozenset({"queue_wait", "download", "upload", "total"})
PLOT = REPO_ROOT / "docs" / "images" / "worker_memory.png"
BURST_CLIENTS = 4
PROBE_INTERVAL = 0.25
POLL_SECONDS = 0.2
DONE_TIMEOUT = 1800.0
ANSWER_TARGET_MS = 100.0
WORKER_NICENESS = 10
SATURATION_BACKLOG = 4  # messages kept waiting in the decode queue during saturated series
MEMORY_LARGE_EVERY = 25  # in the memory run, every 25th file is a corpus file


@dataclass(frozen=True)
class Plan:
    """How many files each phase uses."""

    empty_runs: int
    corpus_copies: int
    burst: int
    probes: int
    memory_files: int
    sizing_files: int  # the first N corpus files (the 24 MP ones come first)


FULL = Plan(empty_runs=10, corpus_copies=3, burst=100, probes=80, memory_files=500, sizing_files=99)
QUICK = Plan(empty_runs=3, corpus_copies=1, burst=20, probes=10, memory_files=100, sizing_files=2)


@dataclass(frozen=True)
class Source:
    name: str
    path: Path


@dataclass
class Upload:
    id: str
    url: str
    name: str
    started: float  # epoch seconds, client clock
    answer_ms: float


@dataclass
class Done:
    """One processed asset, from the service's own record."""

    name: str
    status: str
    size: int
    answer_ms: float
    upload_to_ready_s: float
    started: float
    processed: float
    megapixels: float
    sources: dict[str, str]  # rendition name -> what it was made from
    stages: dict[str, float]

    @property
    def source(self) -> str:
        return self.sources.get("preview", "")

    @property
    def engine_ms(self) -> float:
        return sum(ms for stage, ms in self.stages.items() if stage not in SERVICE_STAGES)

    @property
    def outside_ms(self) -> float:
        """Worker time outside the engine: download, rendition upload, database writes."""
        return self.stages.get("total", 0.0) - self.engine_ms


# --- inputs ------------------------------------------------------------------------------


def corpus() -> tuple[list[Source], str]:
    """The corpus files, or generated DNGs when the corpus is absent; and a description."""
    root = samples_dir()
    found: list[Source] = []
    if root is not None:
        for pattern in CORPUS:
            found += [Source(p.name, p) for p in sorted(root.glob(pattern)) if p.is_file()]
    if found:
        return found, "sample corpus: " + ", ".join(f"`{s.name}`" for s in found)
    folder = WORK_DIR / "service"
    folder.mkdir(parents=True, exist_ok=True)
    generated = []
    plan: tuple[tuple[str, int, PreviewMode], ...] = (
        ("gen_24mp_preview.dng", 24, "sensor"),
        ("gen_24mp_sensor.dng", 24, "none"),
        ("gen_12mp_sensor.dng", 12, "none"),
    )
    for name, megapixels, preview in plan:
        path = folder / name
        if not path.is_file():
            width, height = sensor_size_for_megapixels(megapixels)
            make_dng(path, width=width, height=height, preview=preview, preview_size=2048)
        generated.append(Source(name, path))
    return generated, "generated DNGs (sample corpus not found): " + ", ".join(
        f"`{s.name}`" for s in generated
    )


def unique(data: bytes) -> bytes:
    """The same file with a nonce after its end, so deduplication never matches it."""
    return data + b"\0rawproc-bench-" + uuid.uuid4().hex.encode()


def small_dngs(count: int, folder: Path) -> list[Source]:
    """Small synthetic DNGs with distinct content; odd ones have no embedded preview."""
    return [
        Source(
            f"small_{i:04d}.dng",
            make_dng(
                folder / f"small_{i:04d}.dng",
                seed=i,
                preview="none" if i % 2 else "sensor",
                preview_size=512,
            ),
        )
        for i in range(count)
    ]


# --- the client --------------------------------------------------------------------------


class Client:
    """The benchmark's HTTP client: one session per thread, uploads timed at the client."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._local = threading.local()

    @property
    def api(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = self.stack.session()
        session: requests.Session = self._local.session
        return session

    def upload(self, source: Source) -> Upload:
        data = unique(source.path.read_bytes())
        started = time.time()
        clock = time.perf_counter()
        answer = self.api.post(
            f"{self.stack.base}/api/assets/", files={"file": (source.name, data)}, timeout=300
        )
        answer_ms = (time.perf_counter() - clock) * 1000
        if answer.status_code != 202:
            raise RuntimeError(f"upload of {source.name}: {answer.status_code} {answer.text}")
        body = answer.json()
        return Upload(body["id"], body["url"], source.name, started, answer_ms)

    def count(self, *statuses: str) -> int:
        """Assets in any of ``statuses``."""
        total = 0
        for name in statuses:
            answer = self.api.get(
                f"{self.stack.base}/api/assets/",
                params={"status": name, "page_size": "1"},
                timeout=60,
            )
            total += int(answer.json()["count"])
        return total

    def count_done(self) -> int:
        return self.count("ready", "failed")

    def reprocess(self, asset_id: str) -> None:
        answer = self.api.post(f"{self.stack.base}/api/assets/{asset_id}/reprocess/", timeout=60)
        if answer.status_code >= 400:
            raise RuntimeError(f"reprocess of {asset_id}: {answer.status_code} {answer.text}")

    def settle(self) -> None:
        """Wait until no asset is queued or processing."""
        deadline = time.monotonic() + DONE_TIMEOUT
        while self.count("queued", "processing"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"not settled after {DONE_TIMEOUT:.0f} s")
            time.sleep(POLL_SECONDS)

    def wait(self, uploads: Sequence[Upload], baseline: int) -> list[Done]:
        """Wait until ``uploads`` are all done (``baseline`` = done count before them)."""
        deadline = time.monotonic() + DONE_TIMEOUT
        while self.count_done() < baseline + len(uploads):
            if time.monotonic() > deadline:
                raise RuntimeError(f"not done after {DONE_TIMEOUT:.0f} s\n{self.stack.log_tail()}")
            time.sleep(POLL_SECONDS)
        return self.collect(uploads)

    def collect(self, uploads: Sequence[Upload]) -> list[Done]:
        by_id = {u.id: u for u in uploads}
        assets: dict[str, dict[str, Any]] = {}
        page = f"{self.stack.base}/api/assets/?page_size=200"
        while page and len(assets) < len(by_id):
            body = self.api.get(page, timeout=120).json()
            assets |= {a["id"]: a for a in body["results"] if a["id"] in by_id}
            page = body.get("next")
        return [_done(by_id[i], assets[i]) for i in by_id]


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def _done(upload: Upload, asset: dict[str, Any]) -> Done:
    stages = {k: float(v) for k, v in (asset.get("timings") or {}).items()}
    processed = _epoch(asset["processed_at"]) if asset.get("processed_at") else float("nan")
    meta = asset.get("metadata") or {}
    return Done(
        name=upload.name,
        status=asset["status"],
        size=int(asset.get("size") or 0),
        answer_ms=upload.answer_ms,
        upload_to_ready_s=processed - upload.started,
        started=processed - stages.get("total", 0.0) / 1000,
        processed=processed,
        megapixels=(meta.get("width") or 0) * (meta.get("height") or 0) / 1e6,
        sources={v["name"]: v.get("source", "") for v in asset.get("variants", [])},
        stages=stages,
    )


# --- statistics --------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): a value that was actually observed."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def p50_p95(values: Iterable[float]) -> dict[str, float]:
    values = list(values)
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "n": len(values)}


def worker_memory(stack: Stack) -> dict[str, float]:
    """Current RSS and peak RSS (VmHWM) in MB of the workers' main and pool processes."""
    main_rss = pool_rss = pool_peak = 0.0
    for worker in stack.workers:
        main = psutil.Process(worker.pid)
        main_rss += main.memory_info().rss
        for child in main.children(recursive=True):
            pool_rss += child.memory_info().rss
            pool_peak = max(pool_peak, _vm_hwm(child.pid))
    mb = 1024 * 1024
    return {"main_mb": main_rss / mb, "pool_mb": pool_rss / mb, "pool_peak_mb": pool_peak / mb}


def _vm_hwm(pid: int) -> float:
    """A process's peak resident set in bytes (Linux), 0 when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return 0.0


# --- the phases --------------------------------------------------------------------------


def empty_queue(clients: Sequence[Client], latency: Source, runs: int) -> list[list[Done]]:
    """One file at a time: nothing waits in the queue, every stage is the file's own.

    With several stacks (this checkout and a baseline), each run uploads to every one in
    turn, the order alternating from run to run, so machine noise falls on all alike.
    """
    results: list[list[Done]] = [[] for _ in clients]
    for index in range(runs):
        order = list(enumerate(clients))
        for position, client in order if index % 2 == 0 else reversed(order):
            done_before = client.count_done()
            results[position] += client.wait([client.upload(latency)], done_before)
    return results


@contextlib.contextmanager
def baseline_client(ref: str, warm_up: Source) -> Iterator[tuple[Client, str]]:
    """A second stack running the code of ``ref`` (a temporary git worktree, this
    environment's packages), with one warmed-up worker; yields its client and revision."""
    with (
        baseline_checkout(ref) as checkout,
        running_stack(extra_env={"PYTHONPATH": str(checkout)}) as stack,
    ):
        client = Client(stack)
        stack.start_workers(1)
        client.wait([client.upload(warm_up)], 0)
        yield client, f"{ref} ({short_revision(checkout)})"


def throughput(
    client: Client, sources: Sequence[Source], copies: int, workers: int
) -> dict[str, Any]:
    """Queue everything first, then let ``workers`` worker processes drain it."""
    stack = client.stack
    stack.stop_workers()
    baseline = client.count_done()
    uploads = [client.upload(s) for _ in range(copies) for s in sources]
    stack.start_workers(workers)
    done = client.wait(uploads, baseline)
    memory = worker_memory(stack)
    span = max(d.processed for d in done) - min(d.started for d in done)
    return {
        "workers": workers,
        "files": len(done),
        "failed": sum(d.status != "ready" for d in done),
        "span_s": span,
        "files_per_min": len(done) / span * 60,
        "memory": memory,
        "done": [asdict(d) for d in done],
    }


def probe_series(client: Client, probe: Source, count: int) -> list[Upload]:
    """Small uploads, one every ``PROBE_INTERVAL``."""
    uploads: list[Upload] = []
    for _ in range(count):
        uploads.append(client.upload(probe))
        time.sleep(PROBE_INTERVAL)
    return uploads


def saturated_series(
    client: Client, probe: Source, count: int, busy: Sequence[str]
) -> list[Upload]:
    """Small uploads, one every ``PROBE_INTERVAL``, while the workers are kept saturated:
    before each, whenever fewer than ``SATURATION_BACKLOG`` messages wait in the decode
    queue, assets of ``busy`` (24 MP files already stored) are sent back for processing,
    so every probe meets busy workers however fast they are. Returns once the queue has
    drained and every asset is done again."""
    stack = client.stack
    pending = itertools.cycle(busy)
    uploads: list[Upload] = []
    for _ in range(count):
        while stack.queue_length() < SATURATION_BACKLOG:
            client.reprocess(next(pending))
        uploads.append(client.upload(probe))
        time.sleep(PROBE_INTERVAL)
    client.settle()
    return uploads


def worker_processes(stack: Stack) -> list[psutil.Process]:
    """Every worker process and its pool children."""
    mains = [psutil.Process(worker.pid) for worker in stack.workers]
    return [p for main in mains for p in (main, *main.children(recursive=True))]


def renice_workers(stack: Stack, niceness: int) -> None:
    for process in worker_processes(stack):
        process.nice(niceness)


def pinned(client: Client, probe: Source, probes: int, busy: Sequence[str]) -> dict[str, Any]:
    """Small uploads while the running workers decode on CPU 0 only, leaving the other
    cores to the API: a machine that reserves cores for the API."""
    for process in worker_processes(client.stack):
        process.cpu_affinity([0])
    series = saturated_series(client, probe, probes, busy)
    return p50_p95(u.answer_ms for u in series)


def burst(
    client: Client, latency: Source, probe: Source, count: int, probes: int
) -> dict[str, Any]:
    """``count`` uploads at once from several clients; then small uploads while the workers
    are saturated, first at normal priority, then with the workers at ``WORKER_NICENESS``."""
    baseline = client.count_done()
    with ThreadPoolExecutor(BURST_CLIENTS) as pool:
        uploads = list(pool.map(lambda _: client.upload(latency), range(count)))
    files = client.wait(uploads, baseline)
    busy = [u.id for u in uploads]
    normal = saturated_series(client, probe, probes, busy)
    renice_workers(client.stack, WORKER_NICENESS)
    niced = saturated_series(client, probe, probes, busy)
    span = max(d.processed for d in files) - min(d.started for d in files)
    return {
        "files": len(files),
        "failed": sum(d.status != "ready" for d in files),
        "files_per_min": len(files) / span * 60,
        "answer_ms": p50_p95(d.answer_ms for d in files),
        "probe_answer_ms": p50_p95(u.answer_ms for u in normal),
        "probe_niced_answer_ms": p50_p95(u.answer_ms for u in niced),
        "upload_to_ready_s": p50_p95(d.upload_to_ready_s for d in files),
        "done": [asdict(d) for d in files],
        "busy": busy,
    }


def memory(client: Client, sources: Sequence[Source]) -> dict[str, Any]:
    """One worker drains ``sources``; its RSS is sampled every second meanwhile."""
    stack = client.stack
    stack.stop_workers()
    baseline = client.count_done()
    uploads = [client.upload(s) for s in sources]
    (worker,) = stack.start_workers(1)
    samples: list[dict[str, float]] = []
    pool_pids: set[int] = set()
    started = time.monotonic()
    deadline = started + DONE_TIMEOUT
    while True:
        processed = client.count_done() - baseline
        main = psutil.Process(worker.pid)
        children = main.children(recursive=True)
        pool_pids |= {c.pid for c in children}
        mb = 1024 * 1024
        samples.append(
            {
                "t": time.monotonic() - started,
                "files": processed,
                "main_mb": main.memory_info().rss / mb,
                "pool_mb": sum(c.memory_info().rss for c in children) / mb,
            }
        )
        if processed >= len(uploads) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    done = client.collect(uploads)
    return {
        "files": len(done),
        "failed": sum(d.status != "ready" for d in done),
        "pool_processes_seen": len(pool_pids),
        "samples": samples,
        "pool_peak_mb": worker_memory(stack)["pool_peak_mb"],
        "sources": sorted({d.source for d in done}),
    }


def sizing(client: Client, sources: Sequence[Source]) -> list[dict[str, Any]]:
    """Peak memory of a fresh pool process for each file alone: default renditions, and
    with a full-size rendition (a full demosaic), which is what sizing a worker needs."""
    stack = client.stack
    rows = []
    for source in sources:
        for mode, env in (("default", {}), ("+ full", {"RAWPROC_FULL_RENDITION": "true"})):
            stack.stop_workers()
            stack.start_workers(1, env=env)
            idle = worker_memory(stack)
            (done,) = client.wait([client.upload(source)], client.count_done())
            after = worker_memory(stack)
            rows.append(
                {
                    "name": source.name,
                    "megapixels": done.megapixels,
                    "mode": mode,
                    "source": done.sources.get("full" if env else "preview", ""),
                    "status": done.status,
                    "idle_pool_mb": idle["pool_mb"],
                    "peak_pool_mb": after["pool_peak_mb"],
                    "main_mb": after["main_mb"],
                    "engine_ms": done.engine_ms,
                }
            )
    stack.stop_workers()
    return rows


def run(plan: Plan, *, write: bool, doc: Path, baseline: str | None = None) -> dict[str, Any]:
    load_started = load_average()
    sources, inputs = corpus()
    by_name = {s.name: s for s in sources}
    latency = by_name.get(Path(LATENCY_FILE).name, sources[0])
    results: dict[str, Any] = {"plan": asdict(plan), "inputs": inputs}
    with tempfile.TemporaryDirectory(prefix="rawproc-bench-files-") as tmp:
        print(f"generating {plan.memory_files} small DNGs", file=sys.stderr)
        small = small_dngs(plan.memory_files + 2, Path(tmp))
        with running_stack() as stack:
            client = Client(stack)
            stack.start_workers(1)
            _phase("warm-up", lambda: client.wait([client.upload(small[0])], 0))
            idle = _phase("idle probes", lambda: _idle_probes(client, small[1], plan.probes))
            results["idle_probe_answer_ms"] = idle
            with contextlib.ExitStack() as scope:
                clients = [client]
                if baseline is not None:
                    other, results["baseline"] = scope.enter_context(
                        baseline_client(baseline, small[0])
                    )
                    clients.append(other)
                empty = _phase(
                    "empty queue", lambda: empty_queue(clients, latency, plan.empty_runs)
                )
            results["empty"] = [asdict(d) for d in empty[0]]
            if baseline is not None:
                results["empty_baseline"] = [asdict(d) for d in empty[1]]
            results["t1"] = _phase(
                "1 worker", lambda: throughput(client, sources, plan.corpus_copies, 1)
            )
            results["t2"] = _phase(
                "2 workers", lambda: throughput(client, sources, plan.corpus_copies, 2)
            )
            results["burst"] = _phase(
                "burst", lambda: burst(client, latency, small[1], plan.burst, plan.probes)
            )
            if (os.cpu_count() or 1) > 1:
                busy = results["burst"]["busy"]
                results["pinned_probe_answer_ms"] = _phase(
                    "pinned", lambda: pinned(client, small[1], plan.probes, busy)
                )
            mixed = [
                sources[i // MEMORY_LARGE_EVERY % len(sources)]
                if i % MEMORY_LARGE_EVERY == MEMORY_LARGE_EVERY - 1
                else source
                for i, source in enumerate(small[2:])
            ]
            results["memory"] = _phase("memory", lambda: memory(client, mixed))
            sized = sources[: plan.sizing_files]
            results["sizing"] = _phase("sizing", lambda: sizing(client, sized))
    results["environment"] = environment()
    results["load"] = load_note(load_started)
    save_result("service", results)
    if write:
        from benchmarks.service_report import write_report

        write_report(results, doc)
    return results


def _idle_probes(client: Client, probe: Source, count: int) -> dict[str, float]:
    """Small uploads with the workers idle: the API's answer time when nothing competes."""
    baseline = client.count_done()
    uploads = probe_series(client, probe, count)
    client.wait(uploads, baseline)
    return p50_p95(u.answer_ms for u in uploads)


def _phase(name: str, work: Callable[[], Any]) -> Any:
    print(f"{name} ...", file=sys.stderr, flush=True)
    clock = time.monotonic()
    result = work()
    print(f"{name}: {time.monotonic() - clock:.0f} s", file=sys.stderr, flush=True)
    return result


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so the stack is stopped and its database dropped."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Fewer files (about 3 minutes).")
    parser.add_argument("--no-write", action="store_true", help="Print; leave the docs alone.")
    parser.add_argument("--doc", type=Path, default=DOC, help="Report file to update.")
    parser.add_argument(
        "--baseline",
        metavar="REF",
        help="Also time the empty-queue runs on a stack running this git ref, alternating.",
    )
    parser.add_argument(
        "--empty-runs", type=int, default=0, help="Empty-queue runs (default: the plan's)."
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="Rebuild the section and the plot from the last run's saved results.",
    )
    args = parser.parse_args(argv)
    from benchmarks.service_report import report, write_report

    if args.report_only:
        saved = load_result("service")
        if saved is None:
            parser.error("no saved results: run the benchmark first")
        write_report(saved, args.doc)
        return 0
    plan = QUICK if args.quick else FULL
    if args.empty_runs:
        plan = replace(plan, empty_runs=args.empty_runs)
    results = run(plan, write=not args.no_write, doc=args.doc, baseline=args.baseline)
    if args.no_write:
        print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
