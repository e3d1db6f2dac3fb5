"""``rawproc serve`` start-up: seconds from the command to the first ``200`` of ``/api/health/``.

Each start runs ``rawproc serve`` on the embedded defaults (SQLite, a local data folder, the
file-system broker) with a data folder of its own, polls ``/api/health/`` every 50 ms until
the first ``200``, notes when the worker logged that it is ready, and stops it with SIGINT:

- **warm**: packages installed and imported once, the data folder already migrated and its
  static files collected (one start, not counted, prepares it);
- **fresh**: an empty data folder each time (migrations applied, static files collected).

The same starts are made with a baseline checkout (default: ``main``, checked out in a
temporary git worktree and run with this environment's packages), alternating with this
checkout in every round so machine noise hits both alike; the medians go to
docs/benchmarks.md.

    uv run python -m benchmarks.startup                  # 5 rounds, about 3 minutes
    uv run python -m benchmarks.startup --rounds 3 --baseline HEAD~1
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from benchmarks.common import (
    DOC,
    REPO_ROOT,
    baseline_checkout,
    environment,
    load_average,
    load_note,
    save_result,
    short_revision,
    write_sections,
)
from harness.processes import clean_env, free_ports, interrupt

START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
POLL_SECONDS = 0.05


def start_once(checkout: Path, data: Path) -> dict[str, float]:
    """One start of ``rawproc serve`` from ``checkout``: seconds to the first 200 and to the
    worker's ``ready`` line."""
    (port,) = free_ports(1)
    env = clean_env({"RAWPROC_DATA_DIR": str(data), "PYTHONPATH": str(checkout)})
    command = [sys.executable, "-m", "rawproc.cli", "serve", "--port", str(port)]
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    worker_ready: list[float] = []
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace")
            lines.append(line)
            if not worker_ready and "ready." in line and "MainProcess" in line:
                worker_ready.append(time.monotonic() - started)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        first = _first_answer(f"http://127.0.0.1:{port}/api/health/", process, started)
        deadline = time.monotonic() + START_TIMEOUT
        while not worker_ready and time.monotonic() < deadline and process.poll() is None:
            time.sleep(POLL_SECONDS)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\n{''.join(lines[-30:])}") from exc
    finally:
        interrupt(process, STOP_TIMEOUT)
        reader.join(timeout=5)
    return {"first_answer_s": first, "worker_ready_s": worker_ready[0] if worker_ready else 0.0}


def _first_answer(url: str, process: subprocess.Popen[bytes], started: float) -> float:
    deadline = started + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"rawproc serve exited with {process.returncode}")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"no 200 from {url} after {START_TIMEOUT:.0f} s")


def run(rounds: int, ref: str) -> dict[str, Any]:
    load_started = load_average()
    checkouts = {"this": REPO_ROOT}
    samples: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {"warm": [], "fresh": []} for name in ("baseline", "this")
    }
    with baseline_checkout(ref) as base, tempfile.TemporaryDirectory(prefix="rawproc-st-") as tmp:
        checkouts["baseline"] = base
        warm = {name: Path(tmp) / f"warm-{name}" for name in checkouts}
        for name, checkout in checkouts.items():
            start_once(checkout, warm[name])  # migrates, collects; imports once
        for index in range(rounds):
            order = ["baseline", "this"] if index % 2 == 0 else ["this", "baseline"]
            for name in order:
                for kind in ("warm", "fresh"):
                    data = warm[name] if kind == "warm" else Path(tmp) / f"fresh-{name}-{index}"
                    sample = start_once(checkouts[name], data)
                    samples[name][kind].append(sample)
                    print(f"round {index + 1} {name} {kind}: {sample}", file=sys.stderr)
        revision = short_revision(base)
    return {
        "rounds": rounds,
        "baseline": f"{ref} ({revision})",
        "samples": samples,
        "environment": environment(),
        "load": load_note(load_started),
    }


def _median(values: Sequence[dict[str, float]], key: str) -> float:
    return statistics.median(v[key] for v in values)


def _range(values: Sequence[dict[str, float]], key: str) -> str:
    return f"{min(v[key] for v in values):.1f}-{max(v[key] for v in values):.1f} s"


def report(results: dict[str, Any]) -> str:
    samples = results["samples"]
    rows = []
    for kind in ("warm", "fresh"):
        for name, label in (("baseline", f"before: {results['baseline']}"), ("this", "after")):
            values = samples[name][kind]
            rows.append(
                f"| {kind} | {label} | **{_median(values, 'first_answer_s'):.1f} s** |"
                f" {_range(values, 'first_answer_s')} | {_median(values, 'worker_ready_s'):.1f} s |"
            )
    warm = _median(samples["this"]["warm"], "first_answer_s")
    verdict = "met" if warm <= 3.0 else "not met"
    return "\n".join(
        [
            "## Service start-up (`rawproc serve`)",
            "",
            results["environment"],
            results["load"],
            "",
            "`uv run python -m benchmarks.startup` (`benchmarks/startup.py`) starts `rawproc serve`"
            " on the embedded defaults (SQLite, a local data folder, the file-system broker) and"
            " polls `/api/health/` every 50 ms until the first `200`. **Warm**: packages"
            " installed and imported before, the data folder already migrated and its static"
            " files collected. **Fresh**: an empty data folder each time. The baseline is the"
            " same command from the commit named, in a worktree of its own with the same"
            " packages, started alternately with this one in each round"
            f" ({results['rounds']} rounds; medians, with the range).",
            "",
            "| data folder | code | first answer, median | range | worker ready, median |",
            "|---|---|---:|---:|---:|",
            *rows,
            "",
            f"Target: first answer within 3 s on a warm environment: **{verdict}** ({warm:.1f} s)."
            " The worker is started before the API's application is loaded and boots beside it,"
            " so it is reported ready on its own (in its log); the API answers without waiting"
            " for it. Start-up is CPU-bound (imports), so the figures scale with the machine's"
            " load: with a load average above the 2 cores (see above) every start takes several"
            " times what it takes on an idle machine, for both codes alike; the before/after"
            " ratio is what such a run measures, and the target is judged on a quiet machine.",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="Starts of each kind (default 5).")
    parser.add_argument("--baseline", default="main", help="Git ref to compare with (main).")
    parser.add_argument("--no-write", action="store_true", help="Print; leave the docs alone.")
    parser.add_argument("--doc", type=Path, default=DOC, help="Report file to update.")
    args = parser.parse_args(argv)
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    results = run(args.rounds, args.baseline)
    save_result("startup", results)
    if args.no_write:
        print(report(results))
    else:
        write_sections(args.doc, {"startup": report(results)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
