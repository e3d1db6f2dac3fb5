"""Engine vs the plain pipeline a newcomer writes, and ``rawproc process`` parallel scaling.

Every measurement runs in a fresh interpreter (one per file, pipeline and repeat), so
the peak RSS it reports belongs to that run alone; pipelines alternate within each
repeat so machine noise hits all of them; the median of the repeats is reported.
Results go into ``docs/benchmarks.md`` between the ``engine`` and ``scaling`` markers
(see ``benchmarks.common.replace_section``); other sections of that file are left alone.
The scaling figures are also saved for ``benchmarks.peers``' 16-core projection.

    uv run python -m benchmarks.engine            # needs the sample corpus
    uv run python -m benchmarks.engine --help
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.common import (
    DOC,
    ENGINE_MODULES,
    NEWCOMER_QUALITY,
    Measurement,
    Summary,
    engine_pipeline,
    environment,
    load_average,
    load_note,
    plain_pipeline,
    save_result,
    write_sections,
)
from benchmarks.common import child as run_child
from benchmarks.common import measure as measure_child
from benchmarks.common import run_matrix as run_plan

DEFAULT_FILES = (
    "synthetic/nef_24mp_nikon-d7100_uncompressed.nef",
    "synthetic/dng_24mp_nikon-d7100_o1.dng",
    "real-full/canon_eos-30d.cr2",
    "real-full/nikon_d5000_converted.dng",
    "real-full/sony_ilce-7rm3_apsc-crop.arw",
)
TARGET_SPEEDUP_PREVIEW = 10.0
TARGET_SPEEDUP_SENSOR = 3.0
TARGET_MEMORY_RATIO = 0.60


# --- the pipelines, run inside a fresh child process -----------------------------------


PLAIN_MODULES = ("exifread", "rawpy", "numpy", "PIL.Image")
# name -> (modules the pipeline imports, the work)
PIPELINES: dict[str, tuple[tuple[str, ...], Callable[[Path], Measurement]]] = {
    "plain": (PLAIN_MODULES, lambda p: plain_pipeline(p, full=False)),
    "engine": (ENGINE_MODULES, lambda p: engine_pipeline(p, force_sensor=False, full=False)),
    "engine_sensor": (ENGINE_MODULES, lambda p: engine_pipeline(p, force_sensor=True, full=False)),
    "plain_full": (PLAIN_MODULES, lambda p: plain_pipeline(p, full=True)),
    "engine_full": (ENGINE_MODULES, lambda p: engine_pipeline(p, force_sensor=False, full=True)),
}


def child(pipeline: str, path: Path) -> None:
    """Measure one pipeline on one file and print the measurement as JSON."""
    modules, work = PIPELINES[pipeline]
    run_child(modules, work, path)


# --- the harness ---------------------------------------------------------------------


# The targets are per core: every measurement runs on this one CPU, OpenMP limited to one
# thread, so neither pipeline borrows the other core (LibRaw here is built with OpenMP).
BENCH_CPU = 0


def measure(pipeline: str, path: Path) -> Measurement:
    return measure_child("benchmarks.engine", pipeline, path, cpu=BENCH_CPU)


def run_matrix(
    files: Sequence[Path], pipelines: Sequence[str], repeats: int
) -> dict[tuple[str, str], Summary]:
    """Every (file, pipeline) ``repeats`` times, rotating the pipeline order each time."""
    return run_plan([(path, pipelines) for path in files], repeats, measure)


# Process scaling alone: with its default thread budget, -j 1 already lets LibRaw's OpenMP
# use both cores inside a decode, which would hide what a second process adds.
SCALING_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run_scaling(files: Sequence[Path], copies: int, repeats: int) -> dict[int, float]:
    """Median wall time of ``rawproc process`` over ``copies`` links to each file, -j 1 vs 2."""
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="rawproc-bench-") as tmp:
        inputs = Path(tmp) / "in"
        inputs.mkdir()
        for copy in range(copies):
            for path in files:
                (inputs / f"{path.stem}-{copy}{path.suffix}").symlink_to(path.resolve())
        for repeat in range(repeats):
            for jobs in (1, 2) if repeat % 2 == 0 else (2, 1):
                command = [sys.executable, "-m", "rawproc.cli", "process", str(inputs)]
                command += ["-o", str(Path(tmp) / f"out-{jobs}"), "-j", str(jobs), "--json"]
                start = time.perf_counter()
                proc = subprocess.run(
                    command, capture_output=True, text=True, check=False, env=SCALING_ENV
                )
                elapsed = time.perf_counter() - start
                if proc.returncode != 0:
                    raise RuntimeError(f"rawproc process -j {jobs} failed: {proc.stderr[-500:]}")
                times[jobs].append(elapsed)
                print(f"[{repeat + 1}/{repeats}] -j {jobs}: {elapsed:.1f} s", file=sys.stderr)
    return {jobs: statistics.median(values) for jobs, values in times.items()}


# --- the report ----------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def preview_target(summary: Summary) -> float:
    """10x when every rendition came from the embedded preview, 3x when any needed the sensor."""
    embedded = all(source == "embedded_preview" for source in summary.sources.values())
    return TARGET_SPEEDUP_PREVIEW if embedded else TARGET_SPEEDUP_SENSOR


def comparison_table(
    results: dict[tuple[str, str], Summary],
    files: Sequence[Path],
    plain: str,
    engine: str,
    speedup_target: Callable[[Summary], float],
) -> str:
    rows = [
        "| file | MP | sources | decoder | plain ms | engine ms | speed-up (target)"
        " | plain peak MB | engine peak MB | memory ratio | targets met |",
        "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for path in files:
        base, ours = results[(path.name, plain)], results[(path.name, engine)]
        speedup = base.ms / ours.ms
        memory = ours.peak_mb / base.peak_mb
        target = speedup_target(ours)
        met = speedup >= target and memory <= TARGET_MEMORY_RATIO
        sources = ", ".join(f"{k}: {v}" for k, v in ours.sources.items())
        rows.append(
            f"| {path.name} | {base.megapixels:.1f} | {sources} | {ours.decoder or '-'}"
            f" | {base.ms:.0f} | {ours.ms:.0f}"
            f" | {speedup:.1f}x ({target:.0f}x) | {base.peak_mb:.0f} | {ours.peak_mb:.0f}"
            f" | {memory:.2f} | {_verdict(met)} |"
        )
    return "\n".join(rows)


def engine_section(
    results: dict[tuple[str, str], Summary],
    files: Sequence[Path],
    repeats: int,
    load_at_start: float | None,
) -> str:
    plain_base, engine_base = (
        statistics.median(s.baseline_mb for (_, p), s in results.items() if p.startswith(kind))
        for kind in ("plain", "engine")
    )
    return f"""## Engine vs plain pipeline

{environment()}
Command: `uv run python -m benchmarks.engine` (median of {repeats} runs, each in a fresh
process pinned to one core with OpenMP limited to one thread, since the targets are per
core; pipelines alternate within each repeat).

*Plain pipeline*: `exifread.process_file(f, details=True)`,
`rawpy.imread(p).postprocess(use_camera_wb=True)` at full size, `Image.fromarray`,
`thumbnail()` to 2048 and 320 px, JPEG quality {NEWCOMER_QUALITY}. *Engine*:
`process_raw(path)` with the default thumbnail (320 px) and preview (2048 px) specs.
Both encode in memory; time excludes interpreter start and imports. Peak MB is the
process's peak RSS, including the interpreter and the libraries each pipeline imports
(before the work starts: plain {plain_base:.0f} MB, engine {engine_base:.0f} MB).
{load_note(load_at_start)}

Targets for a 24 MP file: at least {TARGET_SPEEDUP_PREVIEW:.0f}x faster than the plain
pipeline when the embedded preview serves, at least {TARGET_SPEEDUP_SENSOR:.0f}x when
rendering from sensor data, peak memory at most {TARGET_MEMORY_RATIO:.0%} of the plain
pipeline's. "sources" says where each rendition came from: a file whose embedded preview
is smaller than 2048 px (the DNGs here) renders its preview from sensor data even with
default options. "decoder" says what read the engine's sensor data (`ProcessResult.decoder`:
`flashraw`, `libraw` or `rawproc`, the engine's own DNG reader; `-` when the embedded
preview served every rendition); the plain pipeline is LibRaw throughout.

### Metadata + thumbnail + preview, default options (embedded preview allowed)

{comparison_table(results, files, "plain", "engine", preview_target)}

### Metadata + thumbnail + preview, sensor rendering (`EngineOptions(force_sensor=True)`)

{comparison_table(results, files, "plain", "engine_sensor", lambda _: TARGET_SPEEDUP_SENSOR)}

### With the full-size rendition (thumbnail + preview + full)

The plain pipeline also saves the full-size JPEG. Target: no slower than the plain
pipeline, peak memory at most {TARGET_MEMORY_RATIO:.0%} of it.

{comparison_table(results, files, "plain_full", "engine_full", lambda _: 1.0)}
"""


def scaling_section(
    times: dict[int, float],
    count: int,
    per_worker_mb: float,
    repeats: int,
    load_at_start: float | None,
) -> str:
    speedup = times[1] / times[2]
    per_core = count / times[1]
    return f"""## Parallel scaling

Same machine and versions as "Engine vs plain pipeline". Command:
`uv run python -m benchmarks.engine` (wall time of
`python -m rawproc.cli process DIR -j N --json` with `OMP_NUM_THREADS=1`, interpreter and
worker start included, median of {repeats} runs alternating -j 1 and -j 2), on {count}
inputs: the files of the table above, each linked several times. One OpenMP thread per
process measures what a second process adds; by default `rawproc process` gives each
worker `cores / jobs` threads, so a lone `-j 1` run also uses both cores inside a decode.
{load_note(load_at_start)}

| jobs | wall time s | files/s | speed-up |
| ---: | ---: | ---: | ---: |
| 1 | {times[1]:.1f} | {per_core:.2f} | 1.00x |
| 2 | {times[2]:.1f} | {count / times[2]:.2f} | {speedup:.2f}x |

Target: at least 1.8x with 2 jobs on 2 cores: {_verdict(speedup >= 1.8)}.

Projection for 16 cores (linear in cores times the 2-core efficiency of
{speedup / 2:.0%}): about {per_core * 16 * speedup / 2:.1f} files/s. Each worker process
peaks at about {per_worker_mb:.0f} MB on these files (the largest engine peak RSS
above), so 16 workers need about {16 * per_worker_mb / 1024:.1f} GB.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__)
    parser.add_argument("--child", nargs=2, metavar=("PIPELINE", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument(
        "files",
        nargs="*",
        type=Path,
        help="RAW files (default: the 24 MP and real-full files of the sample corpus)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (3)")
    parser.add_argument("--scaling-copies", type=int, default=6, help="links per file (6)")
    parser.add_argument("--no-scaling", action="store_true", help="skip -j 1 vs -j 2")
    parser.add_argument(
        "--doc", type=Path, default=DOC, help="markdown file to update (docs/benchmarks.md)"
    )
    parser.add_argument("--no-write", action="store_true", help="print the sections only")
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0

    files: list[Path] = list(args.files)
    if not files:
        from tests.samples import samples_dir  # imported here: children must not load pytest

        root = samples_dir()
        if root is None:
            parser.error("sample corpus not found: set RAWPROC_SAMPLES_DIR or pass files")
        files = [root / rel for rel in DEFAULT_FILES if (root / rel).is_file()]
    for path in files:
        path.read_bytes()  # warm the page cache so the first run does not pay for the disk

    load = load_average()
    results = run_matrix(files, list(PIPELINES), args.repeats)
    sections = {"engine": engine_section(results, files, args.repeats, load)}
    if not args.no_scaling:
        load = load_average()
        times = run_scaling(files, args.scaling_copies, args.repeats)
        count = len(files) * args.scaling_copies
        worker_mb = max(s.peak_mb for (_, p), s in results.items() if p.startswith("engine"))
        save_result("scaling", {"seconds": times, "files": count, "worker_mb": worker_mb})
        sections["scaling"] = scaling_section(times, count, worker_mb, args.repeats, load)
    for section in sections.values():
        print(section)
    if not args.no_write:
        write_sections(args.doc, sections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
