"""Load: many clients uploading real RAW files at once while two workers process them.

From this process (a second process over loopback), ``--clients`` threads upload
``--uploads`` files through ``POST /api/assets/`` to the real stack (gunicorn on PostgreSQL,
Redis and SeaweedFS, see ``harness/stack.py``) while two Celery worker processes render
them; then ``--more`` further uploads continue, so the workers' memory is watched over
``uploads + more`` files. It reports:

* lost / duplicated / stuck / failed assets (each upload gets distinct bytes: a few random
  bytes appended after the end of a TIFF-family RAW, where no reader looks, so none is
  deduplicated);
* API answer times (p50, p95, max) of the uploads and of status polls made meanwhile;
* the resident memory of the workers' pool processes over the run, with Celery's
  ``worker_max_memory_per_child`` set (``--max-memory-mb``), and how many pool processes
  were replaced for exceeding it.

Files: the corpus' decodable camera files of TIFF-family formats, else the repository's RAW
fixtures; each is first rendered once by the engine here, and only files it renders are
used.

    uv run python -m benchmarks.load                      # 300 + 200 uploads, 20 clients
    uv run python -m benchmarks.load --doc docs/reliability.md   # and write the section
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

from benchmarks.common import environment, load_average, load_note, write_sections
from harness.redis import RedisServer
from harness.stack import Stack, running_stack
from tests.samples import FIXTURES, samples_dir

# TIFF-based containers address their data by offsets from the start: bytes appended after
# the end are never read, so they make a distinct file with the same picture.
APPENDABLE = {"NEF", "NRW", "DNG", "CR2", "ARW", "SR2", "ORF", "RW2", "PEF", "SRW", "ERF"}
SAMPLE_SECONDS = 1.0
STUCK_AFTER_SECONDS = 180.0


@dataclass
class Timings:
    """Answer times in seconds, collected from several threads."""

    values: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float) -> None:
        with self.lock:
            self.values.append(seconds)

    def summary(self) -> str:
        if not self.values:
            return "no requests"
        ordered = sorted(self.values)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        return (
            f"{len(ordered)} requests: p50 {statistics.median(ordered) * 1000:.0f} ms,"
            f" p95 {p95 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"
        )


@dataclass
class MemorySample:
    elapsed: float
    finished: int
    pool_rss_mb: dict[int, float]  # pool process pid -> resident MB


@contextlib.contextmanager
def private_redis(folder: Path) -> Iterator[str]:
    server = RedisServer(folder)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def pick_files() -> list[Path]:
    """Decodable camera files the engine renders, of formats that tolerate appended bytes."""
    from rawproc.imaging import ImagingError, process_raw
    from rawproc.imaging.rawfile import open_raw

    root = samples_dir()
    candidates = (
        sorted([*(root / "real-full").glob("*"), *(root / "raw").glob("*")]) if root else []
    ) or sorted((FIXTURES / "raw").glob("*"))
    chosen = []
    for path in candidates:
        try:
            if open_raw(path).format not in APPENDABLE:
                continue
            process_raw(path)
        except ImagingError as exc:
            print(f"skipping {path.name}: {exc.code}")
            continue
        chosen.append(path)
    if not chosen:
        raise SystemExit("no RAW file to upload: set RAWPROC_SAMPLES_DIR or keep tests/fixtures")
    return chosen


def unique_bytes(data: bytes, index: int) -> bytes:
    return data + b"\0rawproc-load" + index.to_bytes(4, "big") + os.urandom(8)


def run_uploads(
    stack: Stack, files: list[Path], indexes: range, clients: int, timings: Timings
) -> list[tuple[int, str]]:
    """Upload one file per index from ``clients`` threads; return (status, asset id) pairs."""
    contents = [path.read_bytes() for path in files]
    local = threading.local()

    def one(index: int) -> tuple[int, str]:
        if not hasattr(local, "session"):
            local.session = stack.session()
        path = files[index % len(files)]
        data = unique_bytes(contents[index % len(files)], index)
        started = time.perf_counter()
        answer = local.session.post(
            f"{stack.base}/api/assets/", files={"file": (path.name, data)}, timeout=300
        )
        timings.add(time.perf_counter() - started)
        return answer.status_code, str(answer.json().get("id", ""))

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, indexes))


def count(stack: Stack, session: requests.Session, status: str, timings: Timings) -> int:
    started = time.perf_counter()
    answer = session.get(
        f"{stack.base}/api/assets/", params={"status": status, "page_size": "1"}, timeout=60
    )
    timings.add(time.perf_counter() - started)
    return int(answer.json()["count"])


def watch(
    stack: Stack, stop: threading.Event, samples: list[MemorySample], polls: Timings
) -> Callable[[], None]:
    """Sample pool-process memory and finished assets until ``stop`` is set."""
    session = stack.session()
    started = time.monotonic()

    def loop() -> None:
        while not stop.is_set():
            finished = sum(count(stack, session, s, polls) for s in ("ready", "failed"))
            rss = {}
            for worker in stack.workers:
                try:
                    children = psutil.Process(worker.pid).children(recursive=True)
                except psutil.NoSuchProcess:
                    continue
                for child in children:
                    try:
                        rss[child.pid] = child.memory_info().rss / 2**20
                    except psutil.NoSuchProcess:
                        continue
            samples.append(MemorySample(time.monotonic() - started, finished, rss))
            stop.wait(SAMPLE_SECONDS)

    return loop


def wait_until_done(stack: Stack, total: int) -> dict[str, int]:
    """Wait until every asset is ready or failed, or nothing moved for a long while."""
    session = stack.session()
    polls = Timings()
    last, last_change = -1, time.monotonic()
    while True:
        counts = {s: count(stack, session, s, polls) for s in ("ready", "failed")}
        finished = counts["ready"] + counts["failed"]
        if finished >= total:
            return counts
        if finished != last:
            last, last_change = finished, time.monotonic()
        elif time.monotonic() - last_change > STUCK_AFTER_SECONDS:
            return counts
        time.sleep(2)


def all_assets(stack: Stack) -> list[dict[str, Any]]:
    session = stack.session()
    url: str | None = f"{stack.base}/api/assets/?page_size=200"
    found: list[dict[str, Any]] = []
    while url:
        page = session.get(url, timeout=120).json()
        found += page["results"]
        url = page["next"]
    return found


def memory_table(samples: list[MemorySample], total: int, buckets: int = 5) -> str:
    """Pool-process memory per slice of the run, by number of files finished."""
    rows = [
        "| files finished | pool processes seen | median RSS MB | max RSS MB |",
        "|---|---|---|---|",
    ]
    size = max(1, total // buckets)
    for start in range(0, total, size):
        window = [s for s in samples if start <= s.finished < start + size]
        values = [mb for s in window for mb in s.pool_rss_mb.values()]
        pids = {pid for s in window for pid in s.pool_rss_mb}
        if values:
            rows.append(
                f"| {start}-{min(total, start + size)} | {len(pids)} |"
                f" {statistics.median(values):.0f} | {max(values):.0f} |"
            )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=300, help="uploads timed (default 300)")
    parser.add_argument("--more", type=int, default=200, help="uploads after those (200)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (20)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument(
        "--max-memory-mb", type=int, default=700, help="worker_max_memory_per_child (700 MB)"
    )
    parser.add_argument("--doc", type=Path, help="write the 'Load' section into this file")
    args = parser.parse_args()

    files = pick_files()
    total = args.uploads + args.more
    print(f"{len(files)} files: {', '.join(p.name for p in files)}")
    load_at_start = load_average()
    extra_env = {
        "RAWPROC_WORKER_MAX_MEMORY_KB": str(args.max_memory_mb * 1024),
        "RAWPROC_UPLOAD_RATE": "",  # one benchmark user uploads everything
        "RAWPROC_LOG_LEVEL": "WARNING",
    }
    # A Redis of its own (AOF on, as in production): the run never shares queues or keys.
    with (
        tempfile.TemporaryDirectory(prefix="rawproc-load-redis-") as redis_dir,
        private_redis(Path(redis_dir)) as redis_url,
        running_stack(web_workers=2, threads=4, extra_env=extra_env, redis_url=redis_url) as stack,
    ):
        # No beat: its process would be counted with the pool's, and a stale sweep (600 s)
        # comes after the stuck verdict (180 s without progress) anyway.
        stack.start_workers(args.workers, concurrency=1)
        samples: list[MemorySample] = []
        polls, uploads, more = Timings(), Timings(), Timings()
        stop = threading.Event()
        watcher = threading.Thread(target=watch(stack, stop, samples, polls), daemon=True)
        watcher.start()
        started = time.monotonic()
        answers = run_uploads(stack, files, range(args.uploads), args.clients, uploads)
        upload_seconds = time.monotonic() - started
        answers += run_uploads(stack, files, range(args.uploads, total), args.clients, more)
        counts = wait_until_done(stack, total)
        elapsed = time.monotonic() - started
        stop.set()
        watcher.join()
        assets = all_assets(stack)

    accepted = [asset_id for status, asset_id in answers if status == 202]
    deduplicated = sum(status == 200 for status, _ in answers)
    refused = sorted({status for status, _ in answers if status not in (200, 202)})
    by_status = {s: sum(a["status"] == s for a in assets) for s in {a["status"] for a in assets}}
    ids = [a["id"] for a in assets]
    lost = len(set(accepted) - set(ids))
    duplicated = len(ids) - len(set(ids)) + len(accepted) - len(set(accepted)) + deduplicated
    stuck = sum(a["status"] in ("queued", "processing", "uploading") for a in assets)
    errors = sorted({a["error"]["code"] for a in assets if a["error"]})
    pool_pids = {pid for s in samples for pid in s.pool_rss_mb}
    replaced = max(0, len(pool_pids) - args.workers)
    print(f"statuses {by_status}; counts at end {counts}; refused {refused}")

    section = "\n".join(
        [
            "## Load",
            "",
            f"`uv run python -m benchmarks.load --doc docs/reliability.md`: {args.uploads}"
            f" uploads of real RAW files by {args.clients} concurrent clients (threads of a"
            f" second process, over loopback), then {args.more} more, to `rawproc` on gunicorn"
            f" (2 processes, 4 threads each), PostgreSQL, Redis (AOF on) and SeaweedFS, with"
            f" {args.workers} Celery worker processes (concurrency 1 each,"
            f" `worker_max_memory_per_child` {args.max_memory_mb} MB). Files, each upload"
            f" made distinct by bytes appended after the end: "
            + ", ".join(f"`{p.name}`" for p in files)
            + ".",
            "",
            "| figure | result |",
            "|---|---|",
            f"| uploads answered 202 (new asset) | {len(accepted)} of {len(answers)}"
            f"{f' (other answers: {refused})' if refused else ''} |",
            f"| assets at the end | {len(assets)}: {by_status} |",
            f"| lost / duplicated / stuck | {lost} / {duplicated} / {stuck} |",
            f"| failed (codes) | {by_status.get('failed', 0)} {errors or ''} |",
            f"| first {args.uploads} uploads, answer time | {uploads.summary()} |",
            f"| status polls meanwhile, answer time | {polls.summary()} |",
            f"| first {args.uploads} uploads sent in | {upload_seconds:.0f} s |",
            f"| all {total} processed in | {elapsed:.0f} s ({total / elapsed:.2f} files/s) |",
            f"| pool processes replaced (memory limit) | {replaced} |",
            "",
            "Resident memory of the workers' pool processes, sampled every second:",
            "",
            memory_table(samples, total),
            "",
            environment() + " " + load_note(load_at_start),
        ]
    )
    print(section)
    if args.doc:
        write_sections(args.doc, {"load": section})
    clean = (lost, duplicated, stuck) == (0, 0, 0) and not refused and not by_status.get("failed")
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
