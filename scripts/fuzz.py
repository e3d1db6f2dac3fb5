"""Long fuzzing run of the imaging engine on mutated RAW files.

    uv run python scripts/fuzz.py --minutes 10              # fixtures and synthetic DNGs
    uv run python scripts/fuzz.py --minutes 60 --corpus     # plus the sample corpus
    uv run python scripts/fuzz.py --minutes 10 --metadata-only  # the metadata reader alone

Each input is a seed file with one to three mutations (``tests/fixtures/mutate.py``), run
through ``open_raw``, ``read_metadata`` and ``process_raw`` (thumbnail) in a worker
subprocess, so a native crash or a hang is caught and recorded instead of ending the run.
The only acceptable outcomes are a result or an ``ImagingError``; every other exception,
crash (the worker dies) and hang (no answer within ``--timeout``) is a finding, saved with
its input under ``OUT/findings/``. ``OUT/summary.json`` and ``OUT/summary.md`` hold the
counts. Exit status 1 when anything was found.
"""

from __future__ import annotations

import argparse
import json
import random
import selectors
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.mutate import (  # noqa: E402
    Mutation,
    apply_all,
    exercise,
    exercise_metadata,
    random_mutations,
)
from tests.samples import FIXTURES, samples_dir  # noqa: E402

MAX_SEED_BYTES = 40 * 1024 * 1024
CORPUS_FOLDERS = ("raw", "real-full", "synthetic", "metadata-only")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    parser.add_argument("--out", type=Path, default=Path("fuzz-out"), help="results folder")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a hang")
    parser.add_argument("--corpus", action="store_true", help="also mutate the sample corpus")
    parser.add_argument(
        "--metadata-only",
        action="store_true",
        help="exercise only the metadata reader (read_metadata), many more inputs a minute",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(exercise_metadata if args.metadata_only else exercise)
    return fuzz(args)


def worker(target: Callable[[bytes, str], str | None]) -> int:
    """Answer one JSON line per input path read from stdin."""
    for line in sys.stdin:
        path = Path(line.rstrip("\n"))
        data = path.read_bytes()
        started = time.perf_counter()
        try:
            code = target(data, path.name)
            answer: dict[str, Any] = {"outcome": "ok" if code is None else code}
        except Exception as exc:
            answer = {
                "outcome": "unexpected",
                "error": f"{type(exc).__name__}: {exc}"[:500],
                "traceback": traceback.format_exc(limit=8),
            }
        answer["ms"] = round((time.perf_counter() - started) * 1000, 1)
        print(json.dumps(answer), flush=True)
    return 0


class Worker:
    """The worker subprocess; restarted after it crashes or hangs."""

    def __init__(self, extra_args: tuple[str, ...] = ()) -> None:
        self.extra_args = extra_args
        self.process: subprocess.Popen[str] | None = None
        self.selector = selectors.DefaultSelector()

    def start(self) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, __file__, "--worker", *self.extra_args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # LibRaw prints its complaints there
            text=True,
            cwd=ROOT,
        )
        self.selector = selectors.DefaultSelector()
        assert process.stdout is not None
        self.selector.register(process.stdout, selectors.EVENT_READ)
        self.process = process
        return process

    def run(self, path: Path, timeout: float) -> dict[str, Any]:
        process = self.process if self.process and self.process.poll() is None else self.start()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(f"{path}\n")
            process.stdin.flush()
        except BrokenPipeError:
            return self._died(process)
        if not self.selector.select(timeout):
            process.kill()
            process.wait()
            self.process = None
            return {"outcome": "hang", "error": f"no answer within {timeout} s"}
        line = process.stdout.readline()
        if not line:
            return self._died(process)
        return dict(json.loads(line))

    def _died(self, process: subprocess.Popen[str]) -> dict[str, Any]:
        code = process.wait()
        self.process = None
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        return {"outcome": "crash", "error": f"the worker died ({how})"}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=30)


def seed_files(out: Path, corpus: bool) -> dict[str, bytes]:
    from tests.fixtures.dngmaker import fuzz_kind_seeds, make_dng

    seeds = {p.name: p.read_bytes() for p in sorted((FIXTURES / "raw").iterdir())}
    folder = out / "seeds"
    folder.mkdir(parents=True, exist_ok=True)
    for preview in ("sensor", "none"):
        path = make_dng(folder / f"synthetic-{preview}.dng", width=240, height=160, preview=preview)
        seeds[path.name] = path.read_bytes()
    seeds.update(fuzz_kind_seeds(folder))  # the DNG kinds the engine reads itself
    root = samples_dir()
    if corpus and root is not None:
        for sub in CORPUS_FOLDERS:
            for path in sorted((root / sub).glob("*")):
                if path.is_file() and path.stat().st_size <= MAX_SEED_BYTES:
                    seeds[f"{sub}/{path.name}"] = path.read_bytes()
    return seeds


def fuzz(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    out: Path = args.out
    findings_dir = out / "findings"
    findings_dir.mkdir(parents=True, exist_ok=True)
    seeds = seed_files(out, args.corpus)
    names = list(seeds)
    outcomes: Counter[str] = Counter()
    per_seed: dict[str, Counter[str]] = {name: Counter() for name in names}
    findings: list[dict[str, Any]] = []
    slowest = 0.0
    current = out / "current.bin"
    worker_process = Worker(("--metadata-only",) if args.metadata_only else ())
    started = time.monotonic()
    deadline = started + args.minutes * 60
    try:
        while time.monotonic() < deadline:
            name = rng.choice(names)
            mutations = random_mutations(rng, seeds[name])
            data = apply_all(seeds[name], mutations)
            current.write_bytes(data)
            answer = worker_process.run(current, args.timeout)
            outcome = answer["outcome"]
            outcomes[outcome] += 1
            per_seed[name][outcome] += 1
            slowest = max(slowest, float(answer.get("ms", 0.0)))
            if outcome in ("unexpected", "crash", "hang"):
                findings.append(
                    record_finding(findings_dir, len(findings), name, data, mutations, answer)
                )
                print(f"finding: {outcome} on {name}: {answer['error']}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted; writing the summary", file=sys.stderr)
    finally:
        worker_process.stop()
        current.unlink(missing_ok=True)
    elapsed = time.monotonic() - started
    summary = {
        "seed": seed,
        "minutes": round(elapsed / 60, 2),
        "inputs": sum(outcomes.values()),
        "inputs_per_second": round(sum(outcomes.values()) / elapsed, 1),
        "slowest_ms": slowest,
        "outcomes": dict(outcomes.most_common()),
        "per_seed": {name: dict(counts.most_common()) for name, counts in per_seed.items()},
        "findings": findings,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.md").write_text(markdown(summary))
    print(markdown(summary))
    return 1 if findings else 0


def record_finding(
    folder: Path,
    number: int,
    name: str,
    data: bytes,
    mutations: list[Mutation],
    answer: dict[str, Any],
) -> dict[str, Any]:
    """Save the input that misbehaved, so it can be replayed with ``rawproc process``."""
    stem = f"{number:03d}-{answer['outcome']}-{Path(name).name}"
    (folder / f"{stem}.bin").write_bytes(data)
    changes = [asdict(m) | {"payload": m.payload.hex()} for m in mutations]
    return {"input": f"findings/{stem}.bin", "seed_file": name, **answer, "mutations": changes}


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"Fuzzing: {summary['inputs']} mutated inputs in {summary['minutes']} min "
        f"({summary['inputs_per_second']}/s), random seed {summary['seed']}; "
        f"slowest input {summary['slowest_ms']:.0f} ms.",
        "",
        "| seed file | inputs | " + " | ".join(OUTCOME_COLUMNS) + " |",
        "|---|---|" + "---|" * len(OUTCOME_COLUMNS),
    ]
    for name, counts in summary["per_seed"].items():
        cells = " | ".join(str(counts.get(c, 0)) for c in OUTCOME_COLUMNS)
        lines.append(f"| {name} | {sum(counts.values())} | {cells} |")
    total = " | ".join(str(summary["outcomes"].get(c, 0)) for c in OUTCOME_COLUMNS)
    lines.append(f"| **all** | {summary['inputs']} | {total} |")
    lines.append("")
    lines.append(f"Findings: {len(summary['findings'])}")
    for finding in summary["findings"]:
        lines.append(f"- {finding['outcome']} on {finding['seed_file']}: {finding['error']}")
    return "\n".join(lines) + "\n"


OUTCOME_COLUMNS = (
    "ok",
    "unsupported_format",
    "corrupt_file",
    "image_too_large",
    "unexpected",
    "crash",
    "hang",
)

if __name__ == "__main__":
    sys.exit(main())
