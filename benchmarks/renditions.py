"""Renditions on demand: the time a client waits for a 1080 px WebP nobody configured.

Runs a real ``rawproc serve`` (gunicorn and a Celery worker) on PostgreSQL and Redis, the
stack of tests/service/live.py, configured with the thumbnail alone, and drives it over
HTTP as a client would: for each round, two fresh uploads of a synthetic 10.7 MP DNG
without an embedded preview (so a decode means the sensor data):

* **from a stored rendition**: ``2048.jpeg`` is made first (untimed), then the time from
  the first request of ``1080.webp`` to its ``302`` (derived in the request);
* **from the original**: the time from the first request of ``1080.webp`` to its ``302``,
  polled at the ``Retry-After`` the answers give (decoded by the worker);

and, as the baseline of the same run, the upload-to-ready time of the same file (the
processing job: download, decode, thumbnail, upload).

    uv run python -m benchmarks.renditions            # about 2 minutes
    uv run python -m benchmarks.renditions --rounds 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import requests

from tests.fixtures.dngmaker import make_dng
from tests.service.live import (
    postgres_database,
    redis_queues,
    running_server,
    upload_multipart,
    wait_done,
)


def until_made(api: requests.Session, url: str) -> float:
    """Seconds from the first request of ``url`` to its ``302``."""
    started = time.perf_counter()
    while True:
        answer = api.get(url, allow_redirects=False, timeout=120)
        if answer.status_code == 302:
            return time.perf_counter() - started
        if answer.status_code != 202:
            raise RuntimeError(f"{url}: {answer.status_code} {answer.text}")
        time.sleep(min(0.25, float(answer.headers["Retry-After"])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    derived: list[float] = []
    original: list[float] = []
    ready: list[float] = []
    with tempfile.TemporaryDirectory(prefix="rawproc-bench-") as tmp:
        work = Path(tmp)
        with postgres_database() as database_url:
            extra = {
                "DATABASE_URL": database_url,
                "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                **redis_queues(),
                "RAWPROC_RENDITIONS": "thumbnail",
            }
            with running_server(work, extra, concurrency=1) as server:
                api = server.session("alice")
                for round_ in range(args.rounds):
                    assets = []
                    for which in range(2):
                        path = make_dng(
                            work / f"r{round_}-{which}.dng",
                            width=4000,
                            height=2667,
                            preview="none",
                            seed=round_ * 2 + which + 1,
                        )
                        started = time.perf_counter()
                        url = upload_multipart(api, server.base, path)["url"]
                        asset = wait_done(api, url, server)
                        assert asset["status"] == "ready", asset["error"]
                        ready.append(time.perf_counter() - started)
                        assets.append(url)
                    until_made(api, f"{assets[0]}renditions/2048.jpeg/")
                    derived.append(until_made(api, f"{assets[0]}renditions/1080.webp/"))
                    original.append(until_made(api, f"{assets[1]}renditions/1080.webp/"))
    print("| 1080 px WebP on demand, 10.7 MP DNG (no preview) | median | min | max |")
    print("|---|---|---|---|")
    for label, values in (
        ("from a stored 2048 px rendition (in the request)", derived),
        ("from the original (worker decode)", original),
        ("baseline: upload to ready (processing job)", ready),
    ):
        print(
            f"| {label} | {statistics.median(values) * 1000:.0f} ms "
            f"| {min(values) * 1000:.0f} ms | {max(values) * 1000:.0f} ms |"
        )
    print(f"\n{args.rounds} rounds, {len(ready)} uploads")


if __name__ == "__main__":
    main()
