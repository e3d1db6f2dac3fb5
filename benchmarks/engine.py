"""Engine vs the plain pipeline a newcomer writes, and ``rawproc process`` parallel scaling.

Every measurement runs in a fresh interpreter (one per file, pipeline and repeat), so
the peak RSS it reports belongs to that run alone; pipelines alternate within each
repeat so machine noise hits all of them; the median of the repeats is reported.
Results go into ``docs/benchmarks.md`` under "Engine vs plain pipeline" and
"Parallel scaling"; other sections of that file are left alone.

    uv run python -m benchmarks.engine            # needs the sample corpus
    uv run python -m benchmarks.engine --help
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DOC = REPO_ROOT / "docs" / "benchmarks.md"
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
NEWCOMER_QUALITY = 85

Measurement = dict[str, Any]


# --- the pipelines, run inside a fresh child process -----------------------------------


def _plain(path: Path, *, full: bool) -> Measurement:
    """What a newcomer writes: every tag, a full demosaic, Pillow resizes, JPEG."""
    import exifread
    import rawpy
    from PIL import Image

    with open(path, "rb") as fh:
        exifread.process_file(fh, details=True)
    with rawpy.imread(str(path)) as raw:
        rgb = raw.postprocess(use_camera_wb=True)
    image = Image.fromarray(rgb)
    outputs = []
    if full:
        outputs.append(image)
    for size in (2048, 320):
        resized = image.copy()
        resized.thumbnail((size, size))
        outputs.append(resized)
    for out in outputs:
        out.save(io.BytesIO(), "JPEG", quality=NEWCOMER_QUALITY)
    return {"width": image.width, "height": image.height, "sources": {}}


def _engine(path: Path, *, force_sensor: bool, full: bool) -> Measurement:
    from rawproc.imaging import BUILTIN, DEFAULT_SPECS, EngineOptions, process_raw

    specs = (*DEFAULT_SPECS, BUILTIN["full"]) if full else DEFAULT_SPECS
    result = process_raw(path, specs, EngineOptions(force_sensor=force_sensor))
    return {
        "width": result.metadata.get("width"),
        "height": result.metadata.get("height"),
        "sources": {r.spec.name: r.source for r in result.renditions},
    }


PLAIN_MODULES = ("exifread", "rawpy", "numpy", "PIL.Image")
ENGINE_MODULES = ("rawproc.imaging",)
# name -> (modules the pipeline imports, the work)
PIPELINES: dict[str, tuple[tuple[str, ...], Callable[[Path], Measurement]]] = {
    "plain": (PLAIN_MODULES, lambda p: _plain(p, full=False)),
    "engine": (ENGINE_MODULES, lambda p: _engine(p, force_sensor=False, full=False)),
    "engine_sensor": (ENGINE_MODULES, lambda p: _engine(p, force_sensor=True, full=False)),
    "plain_full": (PLAIN_MODULES, lambda p: _plain(p, full=True)),
    "engine_full": (ENGINE_MODULES, lambda p: _engine(p, force_sensor=False, full=True)),
}


def _peak_rss_mb() -> float:
    """This process's peak RSS.

    On Linux, VmHWM belongs to the current program image, whereas ``ru_maxrss`` after
    fork and exec starts from the parent's size and would hide small peaks.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def child(pipeline: str, path: Path) -> None:
    """Measure one pipeline on one file and print the measurement as JSON."""
    modules, work = PIPELINES[pipeline]
    for module in modules:  # imported before the clock starts and the baseline is taken
        importlib.import_module(module)
    baseline = _peak_rss_mb()
    start = time.perf_counter()
    measurement = work(path)
    elapsed = time.perf_counter() - start
    measurement.update(ms=elapsed * 1000, peak_rss_mb=_peak_rss_mb(), baseline_rss_mb=baseline)
    print(json.dumps(measurement))


# --- the harness ---------------------------------------------------------------------


@dataclass
class Summary:
    """Medians over the repeats of one pipeline on one file."""

    ms: float
    peak_mb: float
    baseline_mb: float
    megapixels: float
    sources: dict[str, str]


def measure(pipeline: str, path: Path) -> Measurement:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.engine", "--child", pipeline, str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{pipeline} on {path.name} failed: {last}")
    result: Measurement = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_matrix(
    files: Sequence[Path], pipelines: Sequence[str], repeats: int
) -> dict[tuple[str, str], Summary]:
    """Every (file, pipeline) ``repeats`` times, rotating the pipeline order each time."""
    runs: dict[tuple[str, str], list[Measurement]] = {}
    for repeat in range(repeats):
        for index, path in enumerate(files):
            shift = (repeat + index) % len(pipelines)
            for pipeline in [*pipelines[shift:], *pipelines[:shift]]:
                result = measure(pipeline, path)
                runs.setdefault((path.name, pipeline), []).append(result)
                print(
                    f"[{repeat + 1}/{repeats}] {path.name:<45} {pipeline:<14}"
                    f" {result['ms']:8.0f} ms {result['peak_rss_mb']:7.0f} MB",
                    file=sys.stderr,
                )
    return {key: _summarise(values) for key, values in runs.items()}


def _summarise(values: list[Measurement]) -> Summary:
    first = values[0]
    pixels = (first.get("width") or 0) * (first.get("height") or 0)
    return Summary(
        ms=statistics.median(v["ms"] for v in values),
        peak_mb=statistics.median(v["peak_rss_mb"] for v in values),
        baseline_mb=statistics.median(v["baseline_rss_mb"] for v in values),
        megapixels=pixels / 1e6,
        sources=first["sources"],
    )


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
                proc = subprocess.run(command, capture_output=True, text=True, check=False)
                elapsed = time.perf_counter() - start
                if proc.returncode != 0:
                    raise RuntimeError(f"rawproc process -j {jobs} failed: {proc.stderr[-500:]}")
                times[jobs].append(elapsed)
                print(f"[{repeat + 1}/{repeats}] -j {jobs}: {elapsed:.1f} s", file=sys.stderr)
    return {jobs: statistics.median(values) for jobs, values in times.items()}


# --- the report ----------------------------------------------------------------------


def environment() -> str:
    import rawpy

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = models[0] if models else cpu
    libraw = ".".join(str(part) for part in rawpy.libraw_version)
    packages = ", ".join(
        f"{name} {version(name)}"
        for name in ("raw-processor", "rawpy", "exifread", "pillow", "numpy")
    )
    return (
        f"Measured {dt.date.today().isoformat()}{_source_revision()} on {os.cpu_count()} cores"
        f" ({cpu}),"
        f" {platform.system()} {platform.release()}, Python {platform.python_version()};"
        f" {packages}; LibRaw {libraw}."
    )


def load_average() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _load_note(started: float | None) -> str:
    """The machine's load around a run: other processes on the machine slow every run."""
    ended = load_average()
    if started is None or ended is None:
        return ""
    return (
        f"Load average (1 min) was {started:.1f} when this run started and {ended:.1f} at"
        f" its end, on {os.cpu_count()} cores."
    )


def _source_revision() -> str:
    """`` at commit abc1234`` (plus a note when the engine has uncommitted changes), or ''."""
    git = ["git", "-C", str(REPO_ROOT)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", "rawproc"], check=False)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f" at commit {commit}" + (" with uncommitted engine changes" if dirty.returncode else "")


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
        "| file | MP | sources | plain ms | engine ms | speed-up (target) | plain peak MB"
        " | engine peak MB | memory ratio | targets met |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for path in files:
        base, ours = results[(path.name, plain)], results[(path.name, engine)]
        speedup = base.ms / ours.ms
        memory = ours.peak_mb / base.peak_mb
        target = speedup_target(ours)
        met = speedup >= target and memory <= TARGET_MEMORY_RATIO
        sources = ", ".join(f"{k}: {v}" for k, v in ours.sources.items())
        rows.append(
            f"| {path.name} | {base.megapixels:.1f} | {sources} | {base.ms:.0f} | {ours.ms:.0f}"
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
process; pipelines alternate within each repeat).

*Plain pipeline*: `exifread.process_file(f, details=True)`,
`rawpy.imread(p).postprocess(use_camera_wb=True)` at full size, `Image.fromarray`,
`thumbnail()` to 2048 and 320 px, JPEG quality {NEWCOMER_QUALITY}. *Engine*:
`process_raw(path)` with the default thumbnail (320 px) and preview (2048 px) specs.
Both encode in memory; time excludes interpreter start and imports. Peak MB is the
process's peak RSS, including the interpreter and the libraries each pipeline imports
(before the work starts: plain {plain_base:.0f} MB, engine {engine_base:.0f} MB).
{_load_note(load_at_start)}

Targets for a 24 MP file: at least {TARGET_SPEEDUP_PREVIEW:.0f}x faster than the plain
pipeline when the embedded preview serves, at least {TARGET_SPEEDUP_SENSOR:.0f}x when
rendering from sensor data, peak memory at most {TARGET_MEMORY_RATIO:.0%} of the plain
pipeline's. "sources" says where each rendition came from: a file whose embedded preview
is smaller than 2048 px (the DNGs here) renders its preview from sensor data even with
default options.

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
`python -m rawproc.cli process DIR -j N --json`, interpreter start included, median of
{repeats} runs alternating -j 1 and -j 2), on {count} inputs: the files of the table
above, each linked several times. {_load_note(load_at_start)}

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


def replace_section(document: str, section: str) -> str:
    """Replace the ``## `` section with the same heading as ``section``, or append it."""
    heading = section.splitlines()[0]
    lines = document.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        prefix = document.rstrip() + "\n\n" if document.strip() else "# Benchmarks\n\n"
        return prefix + section
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + section + ("\n" + tail if tail else "")


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
    parser.add_argument("--scaling-copies", type=int, default=2, help="links per file (2)")
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
    sections = [engine_section(results, files, args.repeats, load)]
    if not args.no_scaling:
        load = load_average()
        times = run_scaling(files, args.scaling_copies, args.repeats)
        worker_mb = max(s.peak_mb for (_, p), s in results.items() if p.startswith("engine"))
        sections.append(
            scaling_section(times, len(files) * args.scaling_copies, worker_mb, args.repeats, load)
        )
    for section in sections:
        print(section)
    if not args.no_write:
        document = args.doc.read_text() if args.doc.exists() else ""
        for section in sections:
            document = replace_section(document, section)
        args.doc.parent.mkdir(parents=True, exist_ok=True)
        args.doc.write_text(document)
        print(f"updated {args.doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
