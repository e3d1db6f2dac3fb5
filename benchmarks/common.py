"""Measurement helpers shared by the benchmark scripts.

Every measurement runs in a fresh interpreter (``python -m <script> --child PIPELINE FILE``)
because peak RSS is a per-process high-water mark: one run's memory must never show up
in another's. The child imports its libraries first, then times only the work and prints
one JSON line. The parent repeats every (file, pipeline) with the pipeline order rotated,
so machine noise hits all pipelines alike, and reports medians.

This module imports only the standard library at the top, so a child can run in another
virtual environment (one that holds a peer's package and not this project's).
"""

from __future__ import annotations

import datetime as dt
import importlib
import io
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rawproc.imaging.engine import ProcessResult
    from rawproc.imaging.specs import Format

REPO_ROOT = Path(__file__).resolve().parent.parent
DOC = REPO_ROOT / "docs" / "benchmarks.md"
WORK_DIR = REPO_ROOT / "benchmarks" / ".work"  # git-ignored: generated inputs, caches
NEWCOMER_QUALITY = 85
PREVIEW_SIZES = (2048, 320)

Measurement = dict[str, Any]


# --- pipelines shared by several scripts (run inside a child) --------------------------


def plain_pipeline(path: Path, *, full: bool) -> Measurement:
    """What a newcomer writes: every tag, a full demosaic, Pillow resizes, JPEG."""
    import exifread
    import rawpy
    from PIL import Image

    with open(path, "rb") as fh:
        exifread.process_file(fh, details=True)
    with rawpy.imread(str(path)) as raw:
        rgb = raw.postprocess(use_camera_wb=True)
    image = Image.fromarray(rgb)
    save_resized(image, full=full)
    return {"width": image.width, "height": image.height, "sources": {}}


def save_resized(image: Any, *, full: bool) -> None:
    """Newcomer-style outputs of a decoded Pillow image: optional full JPEG, 2048 and 320 px."""
    outputs = [image] if full else []
    for size in PREVIEW_SIZES:
        resized = image.copy()
        resized.thumbnail((size, size))
        outputs.append(resized)
    for out in outputs:
        out.save(io.BytesIO(), "JPEG", quality=NEWCOMER_QUALITY)


# What an engine child imports before its clock starts: ``rawproc.imaging`` alone loads
# nothing heavy (its names load on first use, for the service's start-up), so the engine
# module itself, which loads numpy, OpenCV, LibRaw, exiv2 and flashraw.
ENGINE_MODULES = ("rawproc.imaging", "rawproc.imaging.engine")


def engine_pipeline(
    path: Path, *, force_sensor: bool, full: bool, fmt: Format = "jpeg"
) -> Measurement:
    """``process_raw`` with the default thumbnail and preview (plus full), all in ``fmt``."""
    from rawproc.imaging import BUILTIN, DEFAULT_SPECS, EngineOptions, process_raw

    specs = (*DEFAULT_SPECS, BUILTIN["full"]) if full else DEFAULT_SPECS
    specs = tuple(spec.with_format(fmt) for spec in specs)
    return engine_measurement(process_raw(path, specs, EngineOptions(force_sensor=force_sensor)))


def engine_measurement(result: ProcessResult) -> Measurement:
    """What a benchmark child reports of one ``process_raw`` run."""
    return {
        "width": result.metadata.get("width"),
        "height": result.metadata.get("height"),
        "sources": {r.spec.name: r.source for r in result.renditions},
        "decoder": result.decoder,
        "stages": result.timings_ms,
        "bytes": {r.spec.name: r.size_bytes for r in result.renditions},
    }


# --- the child side ----------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak RSS in MB.

    On Linux, VmHWM belongs to the current program image, whereas ``ru_maxrss`` after
    fork and exec starts from the parent's size and would hide small peaks.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return _ru_maxrss_mb(resource.RUSAGE_SELF)


def _ru_maxrss_mb(who: int) -> float:
    peak = resource.getrusage(who).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def child(modules: Sequence[str], work: Callable[[Path], Measurement], path: Path) -> None:
    """Import ``modules``, then time ``work(path)`` and print the measurement as JSON.

    Peak RSS is the larger of this process's and that of the largest program it ran:
    a pipeline that shells out to a tool needs the tool's memory too. (A tool's figure
    starts from this process's size at fork, which the maximum makes harmless.)
    """
    for module in modules:  # imported before the clock starts and the baseline is taken
        importlib.import_module(module)
    if any(module.startswith("rawproc.imaging") for module in modules):
        # As the product's decoding processes start (the worker, ``rawproc process``).
        from rawproc.imaging.allocator import tune_allocator

        tune_allocator()
    baseline = peak_rss_mb()
    start = time.perf_counter()
    measurement = work(path)
    elapsed = time.perf_counter() - start
    peak = max(peak_rss_mb(), _ru_maxrss_mb(resource.RUSAGE_CHILDREN))
    measurement.update(ms=elapsed * 1000, peak_rss_mb=peak, baseline_rss_mb=baseline)
    print(json.dumps(measurement))


# --- the parent side ---------------------------------------------------------------------


class MeasurementFailed(RuntimeError):
    """A child exited with an error or ran out of time; the message says which and why."""


def measure(
    module: str,
    pipeline: str,
    path: Path,
    *,
    python: str = sys.executable,
    cpu: int | None = None,
    timeout: float | None = None,
) -> Measurement:
    """Run ``python -m module --child pipeline path`` and return its measurement.

    ``cpu`` pins the child (and every tool it starts) to that one CPU with OpenMP limited
    to one thread, for per-core figures on a machine whose libraries would otherwise
    spread a decode over all cores.
    """
    env = dict(os.environ)
    preexec: Callable[[], None] | None = None
    if cpu is not None:
        env["OMP_NUM_THREADS"] = "1"
        pinned = {cpu}

        def preexec() -> None:
            os.sched_setaffinity(0, pinned)

    try:
        proc = subprocess.run(
            [python, "-m", module, "--child", pipeline, str(path)],
            cwd=REPO_ROOT,
            env=env,
            preexec_fn=preexec,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise MeasurementFailed(f"timed out after {exc.timeout:.0f} s") from exc
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise MeasurementFailed(last)
    result: Measurement = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@dataclass
class Summary:
    """Medians over the repeats of one pipeline on one file (``error`` when none succeeded)."""

    ms: float
    peak_mb: float
    baseline_mb: float
    megapixels: float
    sources: dict[str, str]
    stages: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    # What read the sensor data (the engine's ``ProcessResult.decoder``); None for a peer,
    # or when every rendition came from the embedded preview.
    decoder: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_matrix(
    plan: Sequence[tuple[Path, Sequence[str]]],
    repeats: int,
    measure_one: Callable[[str, Path], Measurement],
    *,
    keep_failures: bool = False,
) -> dict[tuple[str, str], Summary]:
    """Every (file, pipeline) of ``plan`` ``repeats`` times, rotating the pipeline order.

    With ``keep_failures`` a failing run is recorded (and its pipeline not retried on that
    file) instead of stopping the benchmark, so a peer that cannot read a file shows up
    in the tables as such.
    """
    runs: dict[tuple[str, str], list[Measurement]] = {}
    failed: dict[tuple[str, str], str] = {}
    for repeat in range(repeats):
        for index, (path, pipelines) in enumerate(plan):
            shift = (repeat + index) % len(pipelines)
            for pipeline in [*pipelines[shift:], *pipelines[:shift]]:
                key = (path.name, pipeline)
                if key in failed:
                    continue
                try:
                    result = measure_one(pipeline, path)
                except MeasurementFailed as exc:
                    if not keep_failures:
                        raise MeasurementFailed(f"{pipeline} on {path.name}: {exc}") from exc
                    failed[key] = str(exc)
                    print(
                        f"[{repeat + 1}/{repeats}] {path.name:<40} {pipeline:<24} {exc}",
                        file=sys.stderr,
                    )
                    continue
                runs.setdefault(key, []).append(result)
                print(
                    f"[{repeat + 1}/{repeats}] {path.name:<40} {pipeline:<24}"
                    f" {result['ms']:8.0f} ms {result['peak_rss_mb']:7.0f} MB",
                    file=sys.stderr,
                )
    summaries = {key: summarise(values) for key, values in runs.items()}
    for key, error in failed.items():
        summaries[key] = Summary(math.nan, math.nan, math.nan, math.nan, {}, error=error)
    return summaries


def summarise(values: list[Measurement]) -> Summary:
    first = values[0]
    pixels = (first.get("width") or 0) * (first.get("height") or 0)
    stage_names = {name for v in values for name in v.get("stages", {})}
    return Summary(
        ms=statistics.median(v["ms"] for v in values),
        peak_mb=statistics.median(v["peak_rss_mb"] for v in values),
        baseline_mb=statistics.median(v["baseline_rss_mb"] for v in values),
        megapixels=pixels / 1e6,
        sources=first["sources"],
        decoder=first.get("decoder"),
        stages={
            name: statistics.median(v.get("stages", {}).get(name, 0.0) for v in values)
            for name in sorted(stage_names)
        },
    )


# --- the report --------------------------------------------------------------------------


def environment(extra: str = "") -> str:
    """One sentence naming the date, commit, machine and library versions."""
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
        f"{name} {_version(name)}"
        for name in (
            "raw-processor",
            "rawpy",
            "exifread",
            "pillow",
            "numpy",
            "opencv-python-headless",
        )
    )
    return (
        f"Measured {dt.date.today().isoformat()}{source_revision()} on {os.cpu_count()} cores"
        f" ({cpu}),"
        f" {platform.system()} {platform.release()}, Python {platform.python_version()};"
        f" {packages}; LibRaw {libraw}{extra}."
    )


def load_average() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def load_note(started: float | None) -> str:
    """The machine's load around a run: other processes on the machine slow every run."""
    ended = load_average()
    if started is None or ended is None:
        return ""
    return (
        f"Load average (1 min) was {started:.1f} when this run started and {ended:.1f} at"
        f" its end, on {os.cpu_count()} cores."
    )


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "(not installed)"


def source_revision() -> str:
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


def replace_section(document: str, key: str, section: str) -> str:
    """Put ``section`` between ``<!-- BEGIN key -->`` and ``<!-- END key -->`` markers.

    Each script owns its marked sections and rewrites them in place, so scripts never
    clobber each other's results. A section written before markers were used (found by
    its ``## `` heading, up to the next heading or marker) is replaced and marked.
    """
    begin, end = f"<!-- BEGIN {key} -->", f"<!-- END {key} -->"
    block = f"{begin}\n{section.strip()}\n{end}\n"
    if begin in document and end in document:
        head, rest = document.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        return head + block + ("\n" + tail if tail else "")
    heading = section.strip().splitlines()[0]
    lines = document.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        prefix = document.rstrip() + "\n\n" if document.strip() else "# Benchmarks\n\n"
        return prefix + block
    stop = next(
        (
            i
            for i in range(start + 1, len(lines))
            if lines[i].startswith("## ") or lines[i].startswith("<!-- BEGIN ")
        ),
        len(lines),
    )
    tail = "".join(lines[stop:])
    return "".join(lines[:start]) + block + ("\n" + tail if tail else "")


def save_result(name: str, data: Mapping[str, Any]) -> None:
    """Keep raw figures (``benchmarks/.work/NAME.json``) for another script to build on.

    A ``measured`` entry says when and at which commit, for whoever reuses them.
    """
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    stamped = {**data, "measured": f"{dt.date.today().isoformat()}{source_revision()}"}
    (WORK_DIR / f"{name}.json").write_text(json.dumps(stamped, indent=1))


def load_result(name: str) -> dict[str, Any] | None:
    path = WORK_DIR / f"{name}.json"
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def write_sections(doc: Path, sections: Mapping[str, str]) -> None:
    """Replace each (key, section) of ``sections`` in ``doc``, keeping everything else."""
    document = doc.read_text() if doc.exists() else ""
    for key, section in sections.items():
        document = replace_section(document, key, section)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(document)
    print(f"updated {doc}", file=sys.stderr)


@contextmanager
def baseline_checkout(ref: str) -> Iterator[Path]:
    """``ref`` checked out in a temporary git worktree, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="rawproc-baseline-") as tmp:
        path = Path(tmp) / "checkout"
        git = ["git", "-C", str(REPO_ROOT)]
        subprocess.run([*git, "worktree", "add", "--detach", str(path), ref], check=True)
        try:
            yield path
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(path)], check=False)


def short_revision(checkout: Path) -> str:
    """The abbreviated commit checked out at ``checkout``."""
    return subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
