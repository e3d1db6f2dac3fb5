"""This engine against its peers, per file at 12, 24 and 45 MP, with a growth plot.

Pipelines (each: metadata + 320 px thumbnail + 2048 px preview, and separately the same
plus the full-resolution rendition): the engine (JPEG, WebP, AVIF; embedded preview
allowed or sensor rendering forced), the plain newcomer pipeline (exifread + full
``rawpy.postprocess`` + Pillow), LibRaw's own ``raw-identify``/``dcraw_emu`` plus a Pillow
resize, ``darktable-cli`` (the converter PhotoPrism uses) and the ``flashraw`` package,
which runs in a virtual environment of its own. Every run is a fresh process pinned to
one CPU; medians of the repeats are reported. A peer that is not installed or fails on
a file is recorded as such in the tables.

    uv run python -m benchmarks.peers            # full run, about 15 minutes
    uv run python -m benchmarks.peers --quick    # the synthetic files, JPEG only, 1 repeat

Writes the ``peers`` section of ``docs/benchmarks.md`` and
``docs/images/time_vs_megapixels.png``.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.common import (
    DOC,
    NEWCOMER_QUALITY,
    PREVIEW_SIZES,
    REPO_ROOT,
    WORK_DIR,
    Measurement,
    MeasurementFailed,
    Summary,
    engine_pipeline,
    environment,
    load_average,
    load_note,
    load_result,
    measure,
    plain_pipeline,
    run_matrix,
    save_resized,
    save_result,
    write_sections,
)

if TYPE_CHECKING:
    from rawproc.imaging.specs import Format

GROWTH_MP = (12, 24, 45)
CORPUS_FILES = (
    "synthetic/nef_24mp_nikon-d7100_uncompressed.nef",
    "real-full/canon_eos-30d.cr2",
    "real-full/nikon_d5000_converted.dng",
    "real-full/sony_ilce-7rm3_apsc-crop.arw",
)
FORMATS: tuple[Format, ...] = ("jpeg", "webp", "avif")
PLOT = REPO_ROOT / "docs" / "images" / "time_vs_megapixels.png"
FLASHRAW_VENV = WORK_DIR / "flashraw-venv"
DARKTABLE_CONFIG = WORK_DIR / "darktable-config"
TOOL_TIMEOUT_S = 300
CORES = 16
SENSOR_LABEL = "engine (sensor)"
NA = "-"  # a table cell with no figure

Modules = tuple[str, ...]  # imported by the child before its clock starts
PLAIN: Modules = ("exifread", "rawpy", "numpy", "PIL.Image")
ENGINE_MODULES: Modules = ("rawproc.imaging",)
PILLOW: Modules = ("PIL.Image",)
FLASHRAW: Modules = ("flashraw", "numpy", "PIL.Image")


# --- peer pipelines, run inside a fresh child process ------------------------------------


def _run_tool(command: Sequence[str], what: str, reason: str = "") -> None:
    """Run a command-line peer; its failure is the measurement's failure, in its words.

    The reported line is the first that contains ``reason`` (a tool's telling phrase),
    else the last line of its error output.
    """
    try:
        proc = subprocess.run(command, capture_output=True, check=False, timeout=TOOL_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise SystemExit(f"{what} timed out after {exc.timeout:.0f} s") from exc
    if proc.returncode != 0:
        output = (proc.stderr or proc.stdout).decode(errors="replace").strip() or "no output"
        lines = output.splitlines()
        telling = [line for line in lines if reason and reason in line]
        words = re.sub(r"^.*, line \d+: ", "", (telling or lines)[-1])  # drop C++ call sites
        raise SystemExit(f"{what} exited with {proc.returncode}: {words}")


def _dcraw_emu(path: Path, *, full: bool) -> Measurement:
    """LibRaw's own tools: ``raw-identify -v`` for metadata, ``dcraw_emu`` to a TIFF, Pillow.

    Half size (``-h``) when only the thumbnail and preview are wanted, as a user would.
    """
    from PIL import Image

    _run_tool(["raw-identify", "-v", str(path)], "raw-identify")
    with tempfile.TemporaryDirectory(prefix="rawproc-dcraw-") as tmp:
        tiff = Path(tmp) / "out.tiff"
        _run_tool(
            ["dcraw_emu", "-w", *([] if full else ["-h"]), "-T", "-Z", str(tiff), str(path)],
            "dcraw_emu",
        )
        with Image.open(tiff) as image:
            image.load()
            save_resized(image, full=full)
            return {"width": image.width, "height": image.height, "sources": {}}


def _darktable(path: Path, full: bool) -> Measurement:
    """``darktable-cli`` writes the 2048 px (or full-size) JPEG; Pillow makes the rest."""
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="rawproc-darktable-") as tmp:
        out = Path(tmp) / "out.jpg"
        size = [] if full else ["--width", str(PREVIEW_SIZES[0]), "--height", str(PREVIEW_SIZES[0])]
        _run_tool(
            [
                "darktable-cli",
                str(path),
                str(out),
                *size,
                "--core",
                "--configdir",
                str(DARKTABLE_CONFIG),
                "--library",
                ":memory:",
                "--conf",
                f"plugins/imageio/format/jpeg/quality={NEWCOMER_QUALITY}",
            ],
            "darktable-cli",
            reason="not supported",
        )
        with Image.open(out) as image:
            image.load()
            outputs = PREVIEW_SIZES if full else PREVIEW_SIZES[1:]
            for edge in outputs:
                resized = image.copy()
                resized.thumbnail((edge, edge))
                resized.save(io.BytesIO(), "JPEG", quality=NEWCOMER_QUALITY)
            return {"width": image.width, "height": image.height, "sources": {}}


def _flashraw(path: Path, mode: str) -> Measurement:
    """flashraw on one thread: embedded preview, half-size or full (bilinear) sensor render."""
    import flashraw  # type: ignore[import-not-found]  # only in its own environment
    from PIL import Image

    image: Image.Image
    with flashraw.open(str(path)) as raw:
        raw.metadata  # noqa: B018 -- the metadata record is part of every pipeline
        if mode == "embedded":
            image = Image.open(io.BytesIO(raw.preview_bytes()))
            scale = PREVIEW_SIZES[0] / max(image.size)  # libjpeg scales down while decoding
            image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
            image.load()
        else:
            demosaic = "half-size" if mode == "half" else "bilinear"
            frame = raw.decode("rgba8", threads=1, demosaic=demosaic)
            image = Image.fromarray(frame.array, "RGBA").convert("RGB")
            del frame
    save_resized(image, full=mode == "full")
    return {"width": image.width, "height": image.height, "sources": {}}


# --- the pipelines -----------------------------------------------------------------------


@dataclass(frozen=True)
class Pipeline:
    key: str  # "name:task:format", the child's argument
    peer: str  # "engine", "plain", "dcraw_emu", "darktable" or "flashraw"
    label: str  # column and legend name
    task: str  # "preview" (metadata + thumbnail + preview) or "full" (plus full size)
    fmt: str
    modules: Modules
    work: Callable[[Path], Measurement]
    source: str = "sensor"  # "sensor", "embedded" (preview JPEG) or "auto" (engine's choice)


def _engine_work(sensor: bool, full: bool, fmt: Format) -> Callable[[Path], Measurement]:
    return lambda p: engine_pipeline(p, force_sensor=sensor, full=full, fmt=fmt)


def _pipelines() -> list[Pipeline]:
    engine = [
        Pipeline(f"{name}:{task}:{fmt}", "engine", label, task, fmt, ENGINE_MODULES, work, source)
        for fmt in FORMATS
        for name, label, task, work, source in (
            ("engine", "engine", "preview", _engine_work(False, False, fmt), "auto"),
            (
                "engine-sensor",
                "engine (sensor)",
                "preview",
                _engine_work(True, False, fmt),
                "sensor",
            ),
            ("engine", "engine", "full", _engine_work(False, True, fmt), "auto"),
        )
    ]
    plain, dcraw, darktable = "plain", "dcraw_emu", "darktable"
    peers: list[tuple[str, str, str, str, Modules, Callable[[Path], Measurement]]] = [
        (plain, plain, "plain", "preview", PLAIN, lambda p: plain_pipeline(p, full=False)),
        (plain, plain, "plain", "full", PLAIN, lambda p: plain_pipeline(p, full=True)),
        (dcraw, dcraw, "dcraw_emu -h", "preview", PILLOW, lambda p: _dcraw_emu(p, full=False)),
        (dcraw, dcraw, "dcraw_emu", "full", PILLOW, lambda p: _dcraw_emu(p, full=True)),
        (darktable, darktable, "darktable-cli", "preview", PILLOW, lambda p: _darktable(p, False)),
        (darktable, darktable, "darktable-cli", "full", PILLOW, lambda p: _darktable(p, True)),
        (
            "flashraw-embedded",
            "flashraw",
            "flashraw (embedded)",
            "preview",
            FLASHRAW,
            lambda p: _flashraw(p, "embedded"),
        ),
        (
            "flashraw",
            "flashraw",
            "flashraw (half size)",
            "preview",
            FLASHRAW,
            lambda p: _flashraw(p, "half"),
        ),
        ("flashraw", "flashraw", "flashraw", "full", FLASHRAW, lambda p: _flashraw(p, "full")),
    ]
    return engine + [
        Pipeline(
            f"{name}:{task}:jpeg",
            peer,
            label,
            task,
            "jpeg",
            modules,
            work,
            "embedded" if name.endswith("embedded") else "sensor",
        )
        for name, peer, label, task, modules, work in peers
    ]


PIPELINES = {p.key: p for p in _pipelines()}


# --- inputs and peers' availability ------------------------------------------------------


def growth_files() -> dict[int, Path]:
    """Synthetic DNGs of 12, 24 and 45 MP with a full-size embedded JPEG, as cameras write.

    Generated once (the 45 MP one takes several seconds) and kept in ``benchmarks/.work``.
    """
    from tests.fixtures.dngmaker import sensor_size_for_megapixels

    out_dir = WORK_DIR / "dng"
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for mp in GROWTH_MP:
        path = out_dir / f"synthetic_{mp}mp.dng"
        if not path.is_file():
            long_edge = max(sensor_size_for_megapixels(mp))
            print(f"generating {path.name}", file=sys.stderr)
            command = [sys.executable, "-m", "tests.fixtures.dngmaker", str(path)]
            command += ["--mp", str(mp), "--preview-size", str(long_edge)]
            subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True)
        files[mp] = path
    return files


def corpus_files() -> list[Path]:
    from tests.samples import samples_dir  # imported here: children must not load pytest

    root = samples_dir()
    if root is None:
        print(
            "sample corpus not found (RAWPROC_SAMPLES_DIR): synthetic files only", file=sys.stderr
        )
        return []
    return [root / rel for rel in CORPUS_FILES if (root / rel).is_file()]


def flashraw_python() -> tuple[str | None, str]:
    """The flashraw environment's interpreter (made with uv if missing), or why there is none."""
    python = FLASHRAW_VENV / "bin" / "python"
    if not python.exists():
        uv = shutil.which("uv")
        if uv is None:
            return None, "uv not found to create its environment"
        try:
            subprocess.run([uv, "venv", str(FLASHRAW_VENV)], check=True, capture_output=True)
            subprocess.run(
                [uv, "pip", "install", "--python", str(python), "flashraw", "pillow"],
                check=True,
                capture_output=True,
            )
        except subprocess.CalledProcessError as exc:
            return None, f"could not be installed: {exc.stderr.decode().strip()[-200:]}"
    version = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('flashraw'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if version.returncode != 0:
        return None, "not importable in its environment"
    return str(python), f"flashraw {version.stdout.strip()}"


def tool_version(command: Sequence[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    return (proc.stdout or proc.stderr).strip().splitlines()[0] if proc.returncode == 0 else None


def warm_darktable(sample: Path) -> None:
    """darktable creates its configuration and database on first use: not part of a run."""
    DARKTABLE_CONFIG.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        command = ["darktable-cli", str(sample), str(Path(tmp) / "warm.jpg"), "--width", "64"]
        command += ["--height", "64", "--core", "--configdir", str(DARKTABLE_CONFIG)]
        command += ["--library", ":memory:"]
        subprocess.run(command, capture_output=True, check=False, timeout=TOOL_TIMEOUT_S)


# --- the run -----------------------------------------------------------------------------


@dataclass
class Run:
    files: list[Path]
    corpus: list[Path]
    megapixels: dict[str, float]  # file name -> sensor MP
    growth: dict[int, Path]
    pipelines: list[Pipeline]
    results: dict[tuple[str, str], Summary]
    versions: dict[str, str]
    unavailable: dict[str, str]  # tool -> why
    repeats: int
    measured: str  # when, where, with what (kept for --report-only)
    load: str  # the machine's load during the run

    def get(self, path: Path, key: str) -> Summary | None:
        return self.results.get((path.name, key))

    def to_json(self) -> dict[str, Any]:
        return {
            "files": [str(p) for p in self.files],
            "corpus": [str(p) for p in self.corpus],
            "megapixels": self.megapixels,
            "growth": {str(mp): str(p) for mp, p in self.growth.items()},
            "pipelines": [p.key for p in self.pipelines],
            "results": [[name, key, asdict(s)] for (name, key), s in self.results.items()],
            "versions": self.versions,
            "unavailable": self.unavailable,
            "repeats": self.repeats,
            # save_result stamps "measured" with the date alone; the full line is kept here.
            "environment": self.measured,
            "load": self.load,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        return cls(
            files=[Path(p) for p in data["files"]],
            corpus=[Path(p) for p in data["corpus"]],
            megapixels=data["megapixels"],
            growth={int(mp): Path(p) for mp, p in data["growth"].items()},
            pipelines=[PIPELINES[key] for key in data["pipelines"]],
            results={(name, key): Summary(**s) for name, key, s in data["results"]},
            versions=data["versions"],
            unavailable=data["unavailable"],
            repeats=data["repeats"],
            measured=data.get("environment", data["measured"]),
            load=data["load"],
        )


def sensor_megapixels(path: Path) -> float:
    import rawpy

    with rawpy.imread(str(path)) as raw:
        return float(raw.sizes.width * raw.sizes.height) / 1e6


def plan_for(
    files: Sequence[Path], growth: Sequence[Path], pipelines: Sequence[Pipeline]
) -> list[tuple[Path, list[str]]]:
    """Every pipeline on the synthetic growth files; JPEG only on the corpus files."""
    return [
        (path, [p.key for p in pipelines if path in growth or p.fmt == "jpeg"]) for path in files
    ]


def find_peers() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Versions of the installed peers, why the others are missing, and interpreters.

    The interpreters map a peer to the Python its children run under: flashraw has a
    virtual environment of its own, everything else runs in this project's.
    """
    versions: dict[str, str] = {}
    unavailable: dict[str, str] = {}
    for peer, binary, command in (
        (
            "dcraw_emu",
            "dcraw_emu",
            ["dpkg-query", "-W", "-f", "libraw-bin ${Version}", "libraw-bin"],
        ),
        ("darktable", "darktable-cli", ["darktable-cli", "--version"]),
    ):
        found = tool_version(command) if shutil.which(binary) else None
        if found is None:
            unavailable[peer] = f"{binary} not installed"
        else:
            versions[peer] = found
    flashraw, note = flashraw_python()
    if flashraw is None:
        unavailable["flashraw"] = f"flashraw {note}"
    else:
        versions["flashraw"] = note
    interpreters = {"flashraw": flashraw} if flashraw else {}
    return versions, unavailable, interpreters


def execute(args: argparse.Namespace) -> Run:
    growth = growth_files()
    corpus = [] if args.quick else corpus_files()
    files = [*growth.values(), *corpus]
    for path in files:
        path.read_bytes()  # warm the page cache so the first run does not pay for the disk
    formats = ("jpeg",) if args.quick else FORMATS
    pipelines = [p for p in PIPELINES.values() if p.fmt in formats]
    versions, unavailable, interpreters = find_peers()
    if "darktable" not in unavailable:
        warm_darktable(growth[GROWTH_MP[0]])
    cpu = (os.cpu_count() or 1) - 1

    def measure_one(key: str, path: Path) -> Measurement:
        python = interpreters.get(PIPELINES[key].peer, sys.executable)
        return measure("benchmarks.peers", key, path, python=python, cpu=cpu, timeout=600)

    load = load_average()
    runnable = [p for p in pipelines if p.peer not in unavailable]
    results = run_matrix(
        plan_for(files, list(growth.values()), runnable),
        args.repeats,
        measure_one,
        keep_failures=True,
    )
    for pipeline in pipelines:
        if pipeline.peer in unavailable:
            for path in files:
                results[(path.name, pipeline.key)] = _failed(unavailable[pipeline.peer])
    return Run(
        files=files,
        corpus=corpus,
        megapixels={path.name: sensor_megapixels(path) for path in files},
        growth=growth,
        pipelines=pipelines,
        results=results,
        versions=versions,
        unavailable=unavailable,
        repeats=args.repeats,
        measured=environment(f"; {', '.join(f'{k}: {v}' for k, v in sorted(versions.items()))}"),
        load=load_note(load),
    )


def _failed(reason: str) -> Summary:
    return Summary(math.nan, math.nan, math.nan, math.nan, {}, error=reason)


MIN_SCALING_FILES = 8  # fewer files measure interpreter start-up more than the work


def scaling_figures(files: Sequence[Path], repeats: int) -> dict[str, Any]:
    """``rawproc process -j 1`` vs ``-j 2`` figures saved by benchmarks.engine, else measured."""
    saved = load_result("scaling")
    if saved is not None and saved.get("files", 0) >= MIN_SCALING_FILES:
        return saved
    from benchmarks.engine import run_scaling

    copies = math.ceil(MIN_SCALING_FILES / len(files))
    times = run_scaling(files, copies, repeats)
    data = {"seconds": times, "files": len(files) * copies, "worker_mb": None}
    save_result("scaling", data)
    saved = load_result("scaling")
    assert saved is not None
    return saved


# --- the report --------------------------------------------------------------------------


def _cell(summary: Summary | None) -> str:
    if summary is None:
        return NA
    if not summary.ok:
        return "fails (below)"
    return f"{summary.ms / 1000:.2f} s, {summary.peak_mb:.0f} MB"


def cost_table(run: Run, task: str, fmt: str = "jpeg") -> str:
    pipelines = [p for p in run.pipelines if p.task == task and p.fmt == fmt]
    header = "| file | MP | " + " | ".join(p.label for p in pipelines) + " |"
    rows = [header, "| --- | ---: |" + " ---: |" * len(pipelines)]
    for path in run.files:
        cells = [_cell(run.get(path, p.key)) for p in pipelines]
        rows.append(
            f"| {path.name} | {run.megapixels[path.name]:.1f} | " + " | ".join(cells) + " |"
        )
    return "\n".join(rows)


def failures(run: Run) -> str:
    """Each pipeline that failed on a file, with the reason the peer gave."""
    by_error: dict[tuple[str, str], list[str]] = {}
    for path in run.files:
        for pipeline in run.pipelines:
            summary = run.get(path, pipeline.key)
            if summary is not None and summary.error is not None:
                label = f"{pipeline.label} ({pipeline.task}, {pipeline.fmt})"
                by_error.setdefault((label, summary.error), []).append(path.name)
    if not by_error:
        return ""
    lines = [
        f"- {label} on {', '.join(names)}: {error}" for (label, error), names in by_error.items()
    ]
    return "Failures (the peer's own words):\n\n" + "\n".join(lines) + "\n"


def format_table(run: Run) -> str:
    columns = [
        (tool, task, fmt)
        for tool, task in (("engine", "preview"), ("engine-sensor", "preview"), ("engine", "full"))
        for fmt in FORMATS
    ]
    names = {
        "engine:preview": "default",
        "engine-sensor:preview": "sensor",
        "engine:full": "+ full",
    }
    header = "| file | " + " | ".join(f"{names[f'{t}:{k}']} {f.upper()}" for t, k, f in columns)
    rows = [header + " |", "| --- |" + " ---: |" * len(columns)]
    for mp, path in run.growth.items():
        cells = [_cell(run.get(path, f"{t}:{k}:{f}")) for t, k, f in columns]
        rows.append(f"| {mp} MP | " + " | ".join(cells) + " |")
    return "\n".join(rows)


# The engine's cases: pipeline key, task, description.
ENGINE_CASES = (
    ("engine:preview:jpeg", "preview", "default (embedded preview allowed)"),
    ("engine-sensor:preview:jpeg", "preview", "rendered from sensor data"),
    ("engine:full:jpeg", "full", "with the full-resolution rendition"),
)
MARGIN = 1.10  # a peer is "ahead" only when better by more than this: less is noise


def comparisons(run: Run, path: Path) -> Iterator[tuple[str, Pipeline, Summary, Summary | None]]:
    """(engine case, peer, engine summary, peer summary) for like-for-like pairs on a file.

    Sensor rendering is compared with peers that render from sensor data only; the
    engine's default, which may use the embedded preview, with every peer.
    """
    for engine_key, task, case in ENGINE_CASES:
        ours = run.get(path, engine_key)
        if ours is None or not ours.ok:
            continue
        sensor_only = PIPELINES[engine_key].source == "sensor"
        for peer in run.pipelines:
            if peer.task != task or peer.peer == "engine" or peer.fmt != "jpeg":
                continue
            if sensor_only and peer.source != "sensor":
                continue
            yield case, peer, ours, run.get(path, peer.key)


def ratio_rows(run: Run, path: Path) -> list[str]:
    """Engine (default, sensor, with full size) against each peer on one file."""
    rows = []
    for case, peer, ours, theirs in comparisons(run, path):
        if theirs is None or not theirs.ok:
            why = "fails (below)" if theirs is not None else "not run"
            rows.append(f"| {path.name} | {case} | {peer.label} | - | - | {why} |")
            continue
        rows.append(
            f"| {path.name} | {case} | {peer.label} | {theirs.ms / ours.ms:.1f}x"
            f" | {ours.peak_mb / theirs.peak_mb:.2f} | |"
        )
    return rows


def ratio_table(run: Run) -> str:
    files = [p for p in run.files if 20 <= run.megapixels[p.name] <= 28]
    rows = [
        "| file | engine case | peer | engine speed-up (peer time / engine time)"
        " | engine peak RSS / peer's | note |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    for path in files:
        rows += ratio_rows(run, path)
    return "\n".join(rows)


def stage_table(run: Run) -> str:
    """Where the engine's time goes (median ms per stage), at each growth size."""
    keys = ("engine:preview:jpeg", "engine-sensor:preview:jpeg", "engine:full:jpeg")
    cases = {keys[0]: "default", keys[1]: "sensor", keys[2]: "+ full"}
    stages: list[str] = []
    for path in run.growth.values():
        for key in keys:
            summary = run.get(path, key)
            if summary is not None:
                stages += [s for s in summary.stages if s not in stages]
    rows = ["| file | case | total ms | " + " | ".join(stages) + " |"]
    rows.append("| --- | --- | ---: |" + " ---: |" * len(stages))
    for mp, path in run.growth.items():
        for key in keys:
            summary = run.get(path, key)
            if summary is None or not summary.ok:
                continue
            cells = [f"{summary.stages[s]:.0f}" if s in summary.stages else NA for s in stages]
            rows.append(
                f"| {mp} MP | {cases[key]} | {summary.ms:.0f} | " + " | ".join(cells) + " |"
            )
    return "\n".join(rows)


@dataclass
class Fit:
    intercept_ms: float
    slope_ms_per_mp: float
    r2: float


def linear_fit(points: Sequence[tuple[float, float]]) -> Fit | None:
    """Least squares ``ms = a + b * MP``; R² near 1 means time grows linearly."""
    if len(points) < 3:
        return None
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    intercept = my - slope * mx
    total = sum((y - my) ** 2 for y in ys)
    residual = sum((y - intercept - slope * x) ** 2 for x, y in points)
    return Fit(intercept, slope, 1 - residual / total if total else 1.0)


def growth_points(run: Run, key: str) -> list[tuple[float, float]]:
    points = []
    for path in run.growth.values():
        summary = run.get(path, key)
        if summary is not None and summary.ok:
            points.append((run.megapixels[path.name], summary.ms))
    return points


def growth_table(run: Run) -> str:
    rows = [
        "| task | pipeline | "
        + " | ".join(f"ms/MP at {mp} MP" for mp in run.growth)
        + " | fit: fixed ms + ms/MP | R² | peak MB at "
        + ", ".join(f"{mp}" for mp in run.growth)
        + " MP |",
        "| --- | --- |" + " ---: |" * (len(run.growth) + 3),
    ]
    for pipeline in (p for p in run.pipelines if p.fmt == "jpeg"):
        points = dict(growth_points(run, pipeline.key))
        per_mp = [
            f"{points[run.megapixels[p.name]] / run.megapixels[p.name]:.0f}"
            if run.megapixels[p.name] in points
            else NA
            for p in run.growth.values()
        ]
        fit = linear_fit(list(points.items()))
        fitted = f"{fit.intercept_ms:.0f} + {fit.slope_ms_per_mp:.0f}/MP" if fit else NA
        r2 = f"{fit.r2:.3f}" if fit else NA
        peaks = ", ".join(_mb(run.get(p, pipeline.key)) for p in run.growth.values())
        rows.append(
            f"| {pipeline.task} | {pipeline.label} | "
            + " | ".join(per_mp)
            + f" | {fitted} | {r2} | {peaks} |"
        )
    return "\n".join(rows)


def _mb(summary: Summary | None) -> str:
    return f"{summary.peak_mb:.0f}" if summary is not None and summary.ok else NA


STYLES = {  # peer -> colour, marker; a peer's second variant is dashed
    "engine": ("C0", "o"),
    "plain": ("C2", "s"),
    "dcraw_emu": ("C3", "^"),
    "darktable": ("C4", "D"),
    "flashraw": ("C1", "v"),
}


def plot(run: Run, out: Path) -> None:
    """Time per file against megapixels, and time per megapixel (flat = linear growth).

    Log scales, because the pipelines differ by two orders of magnitude; on the top row
    the grey dotted lines have slope 1 (time proportional to megapixels), so a pipeline
    that grows linearly runs parallel to them.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import (
        FixedLocator,
        LogLocator,
        NullFormatter,
        NullLocator,
        ScalarFormatter,
    )

    fig, axes = plt.subplots(2, 2, figsize=(12, 9), sharex=True)
    titles = {
        "preview": "metadata + 320 px thumbnail + 2048 px preview",
        "full": "the same + full-resolution rendition",
    }
    legend: dict[str, Any] = {}
    for column, task in enumerate(("preview", "full")):
        top, bottom = axes[0][column], axes[1][column]
        for axis in (top, bottom):
            axis.set_xscale("log")
            axis.set_yscale("log")
        variants: dict[str, int] = {}
        for pipeline in (p for p in run.pipelines if p.task == task and p.fmt == "jpeg"):
            points = growth_points(run, pipeline.key)
            if not points:
                continue
            variant = variants[pipeline.peer] = variants.get(pipeline.peer, -1) + 1
            colour, marker = STYLES[pipeline.peer]
            style = {"color": colour, "marker": marker, "label": pipeline.label}
            style["linestyle"] = ("-", "--", ":")[variant % 3]
            xs = [x for x, _ in points]
            (legend[pipeline.label],) = top.plot(xs, [y / 1000 for _, y in points], **style)
            bottom.plot(xs, [y / x for x, y in points], **style)
        low, high = top.get_ylim()
        guide = 10 ** math.floor(math.log10(low))
        while guide < high:  # slope-1 guides: time proportional to megapixels
            top.plot(
                GROWTH_MP,
                [guide * mp / GROWTH_MP[0] for mp in GROWTH_MP],
                color="grey",
                linestyle=":",
                linewidth=0.8,
            )
            guide *= 10
        top.set_ylim(low, high)
        top.set_title(titles[task])
        top.set_ylabel("seconds per file (one CPU)")
        bottom.set_ylabel("ms per megapixel (flat = linear growth)")
        bottom.set_xlabel("megapixels")
        for axis in (top, bottom):
            axis.xaxis.set_major_locator(FixedLocator(list(GROWTH_MP)))
            axis.xaxis.set_minor_locator(NullLocator())
            axis.xaxis.set_major_formatter(ScalarFormatter())
            axis.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.yaxis.set_major_formatter(ScalarFormatter())
            axis.yaxis.set_minor_formatter(NullFormatter())
            axis.grid(True, which="major", alpha=0.3)
    fig.suptitle(
        "RAW file to web renditions: time per file against sensor size"
        " (JPEG, median, one CPU, log scales)"
    )
    fig.legend(legend.values(), legend.keys(), loc="lower center", ncols=5, fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out}", file=sys.stderr)


def projection_table(run: Run, scaling: dict[str, Any]) -> str:
    """16 cores at the measured 2-core efficiency; memory = peak RSS per process x processes."""
    seconds = {int(k): float(v) for k, v in scaling["seconds"].items()}
    efficiency = seconds[1] / seconds[2] / 2
    rows = [
        "| file | pipeline | s per file, one core | files/s on 16 cores | peak MB per process"
        " | memory for 16 processes |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    keys = ["engine:preview:jpeg", "engine-sensor:preview:jpeg", "engine:full:jpeg"]
    keys += ["plain:preview:jpeg", "plain:full:jpeg"]
    for mp in (24, 45):
        path = run.growth.get(mp)
        if path is None:
            continue
        for key in keys:
            summary = run.get(path, key)
            if summary is None or not summary.ok:
                continue
            rate = CORES * efficiency * 1000 / summary.ms
            name = PIPELINES[key].label + (" + full" if PIPELINES[key].task == "full" else "")
            rows.append(
                f"| {mp} MP | {name} | {summary.ms / 1000:.2f} | {rate:.1f} | {summary.peak_mb:.0f}"
                f" | {CORES * summary.peak_mb / 1024:.1f} GB |"
            )
    return (
        f"`rawproc process` (all cores, not pinned; measured {scaling.get('measured', '')})"
        f" took {seconds[1]:.1f} s with `-j 1` and {seconds[2]:.1f} s with"
        f" `-j 2` on {scaling['files']} files: {seconds[1] / seconds[2]:.2f}x, a parallel"
        f" efficiency of {efficiency:.0%} per core. Projected to {CORES} cores at that"
        f" efficiency (one process per core, one file at a time each):\n\n" + "\n".join(rows)
    )


# Why a peer can be ahead, and what closing the gap would take; printed for each peer
# that beats the engine somewhere in this run.
BEHIND = {
    "flashraw": (
        "flashraw decodes with its own SIMD kernels (written in Rust) and a bilinear"
        " demosaic, and hands out the pixels without copies. The engine's development is"
        " vectorised too (OpenCV filters and numpy, band by band), but its demosaic does"
        " several times a bilinear one's work (Hamilton-Adams, 4-7 dB closer to the true"
        ' picture: see "Demosaic quality"), and LibRaw still unpacks the sensor data'
        " (for a lossless-JPEG DNG, most of the time). What would close the rest is a"
        " faster unpacker for the common formats (flashraw's own, once it is proven on the"
        " formats we must read), not a cheaper demosaic, which would cost the picture."
        " Where **flashraw (embedded)** is far ahead on the real camera files, it serves"
        " their embedded JPEG, which is smaller than 2048 px, as the preview; the engine"
        " does not (an embedded preview must be at least the size asked for) and renders"
        " those from the sensor, so the two are not making the same preview."
    ),
    "dcraw_emu": (
        "dcraw_emu is LibRaw's own pipeline as a C program, without an interpreter: the"
        " engine's Python process holds about 58 MB of interpreter and libraries (OpenCV"
        " among them) before any work, which is most of dcraw_emu's memory lead where it"
        " has one. Where it is also faster, the difference is the engine's resizes (box"
        " reduction, then bicubic) and, for files whose half-size render is smaller than"
        " the preview, the engine's full demosaic (below)."
    ),
    "plain": (
        "the plain pipeline is ahead only where the engine also demosaics the full sensor"
        " for the thumbnail and preview: files with no embedded preview of 2048 px and a"
        " half-size render smaller than 2048 px (the 8 MP EOS 30D: 1752 px). Accepting a"
        " half-size render when it is within about 15% of the preview size (a 1752 px"
        " preview for such cameras, or a small upscale) would cut that case to the"
        " half-size cost."
    ),
    "darktable": (
        "darktable-cli runs a complete, tuned processing pipeline; where it is ahead, it"
        " is by avoiding work the engine does (see the stage table)."
    ),
}


def behind_paragraph(run: Run) -> str:
    """Every (file, case, peer) where the peer is faster or leaner than the engine, and why."""
    rows: list[str] = []
    seen: set[str] = set()
    for path in run.files:
        for case, peer, ours, theirs in comparisons(run, path):
            if theirs is None or not theirs.ok:
                continue
            speed, memory = ours.ms / theirs.ms, ours.peak_mb / theirs.peak_mb
            if speed > MARGIN or memory > MARGIN:
                seen.add(peer.peer)
                rows.append(
                    f"| {path.name} | {case} | {peer.label} | {speed:.1f}x | {memory:.1f}x |"
                )
    if not rows:
        return f"No peer was more than {MARGIN - 1:.0%} faster or leaner than the engine here."
    reasons = "\n".join(f"- **{peer}**: {BEHIND[peer]}" for peer in sorted(seen) if peer in BEHIND)
    return (
        f"Cases where a peer is more than {MARGIN - 1:.0%} faster or leaner (peer's speed and"
        " memory advantage; 1.0x or less means it is not ahead on that count):\n\n"
        "| file | engine case | peer | peer faster by | peer leaner by |\n"
        "| --- | --- | --- | ---: | ---: |\n"
        + "\n".join(rows)
        + "\n\nWhy, and what it would take:\n\n"
        + reasons
    )


def section(run: Run, scaling: dict[str, Any] | None) -> str:
    missing = ", ".join(f"{k} ({v})" for k, v in sorted(run.unavailable.items()))
    relative_plot = os.path.relpath(PLOT, DOC.parent)
    parts = [
        f"""## Engine vs peers at 12, 24 and 45 MP

{run.measured}
{run.load}
{f"Not measured: {missing}." if missing else ""}
Command: `uv run python -m benchmarks.peers` (median of {run.repeats} runs, each in a
fresh process pinned to one CPU with OpenMP limited to one thread; pipelines alternate
within each repeat). Time excludes interpreter start and imports; peak MB is the peak RSS
of the measuring process or of the tool it ran, whichever is larger, interpreter and
libraries included.

Files: synthetic DNGs of 12, 24 and 45 MP (`python -m tests.fixtures.dngmaker OUT --mp N
--preview-size LONG_EDGE`: 16-bit uncompressed CFA data and a full-size embedded JPEG, as
cameras write), plus the corpus' real files and its 24 MP NEF.

Pipelines, each producing metadata, a 320 px thumbnail and a 2048 px preview (and, in the
second table, the full-resolution JPEG too); JPEG quality {NEWCOMER_QUALITY} throughout:

- **engine**: `process_raw()` with default options (the embedded preview serves when it
  is large enough); **engine (sensor)**: `EngineOptions(force_sensor=True)`.
- **plain**: `exifread.process_file(details=True)` + full `rawpy.postprocess(use_camera_wb=True)`
  + Pillow `thumbnail()`.
- **dcraw_emu**: `raw-identify -v` (metadata) + `dcraw_emu -w -T` to a TIFF (`-h`, half size,
  when no full-size output is wanted) + Pillow.
- **darktable-cli**: `darktable-cli IN OUT.jpg --width 2048 --height 2048` (full size for the
  second table) with a warmed configuration and `--library :memory:`; Pillow makes the
  thumbnail. Its metadata is the EXIF it copies into the JPEG.
- **flashraw**: `flashraw.open()` + `metadata` + `decode("rgba8", threads=1)` (half size
  for the preview, bilinear full size for the full table) + Pillow; **flashraw (embedded)**
  decodes the embedded JPEG (`preview_bytes()`) with Pillow's draft mode instead.

### Metadata + thumbnail + preview (JPEG): time and peak RSS per file

{cost_table(run, "preview")}

### With the full-resolution rendition (JPEG)

{cost_table(run, "full")}

{failures(run)}""",
    ]
    if any(p.fmt != "jpeg" for p in run.pipelines):
        parts.append(
            f"""### The engine's output formats (synthetic files)

Default = embedded preview allowed; sensor = `force_sensor=True`; + full = thumbnail,
preview and full-resolution rendition, all in the one format (WebP quality 82, method 3;
AVIF quality 60, speed 8).

{format_table(run)}
"""
        )
    parts.append(
        f"""### Ratios for the 24 MP files

Speed-up above 1 and memory ratio below 1 favour the engine. Targets for a 24 MP file
(against plain): at least 10x when the embedded preview serves, at least 3x from sensor
data, full resolution no slower, peak memory at most 60%.

{ratio_table(run)}

### Growth with megapixels

![Time per file against megapixels]({relative_plot})

Time per megapixel at each size, a least-squares fit `ms = fixed + slope x MP` over the
three sizes, and its R² (1 = exactly linear). Pipelines that decode the embedded preview
do work that hardly depends on the sensor size, so their slope is near 0 and R² says
nothing; what matters for them is that time and memory stay flat.

{growth_table(run)}

### Where the engine's time goes (JPEG, median ms per stage)

From `ProcessResult.timings_ms`. When sensor data is rendered, "metadata" includes
LibRaw's unpack of the raw data (read and decompressed once, then reused by the decode).

{stage_table(run)}
"""
    )
    if scaling is not None:
        parts.append(f"### Projection to {CORES} cores\n\n{projection_table(run, scaling)}\n")
    parts.append(f"### Where the engine is behind a peer\n\n{behind_paragraph(run)}\n")
    return "\n".join(parts)


# --- entry point -------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.peers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--child", nargs=2, metavar=("PIPELINE", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="synthetic files, JPEG, 1 repeat")
    parser.add_argument("--repeats", type=int, help="runs per measurement (3; 1 with --quick)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the 16-core projection")
    parser.add_argument("--doc", type=Path, default=DOC, help="markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the section and plot from the last run's saved figures",
    )
    args = parser.parse_args(argv)
    if args.child:
        from benchmarks.common import child

        pipeline = PIPELINES[args.child[0]]
        child(pipeline.modules, pipeline.work, Path(args.child[1]))
        return 0
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3

    if args.report_only:
        saved = load_result("peers")
        if saved is None:
            parser.error("no saved figures: run the benchmark first")
        run = Run.from_json(saved)
    else:
        run = execute(args)
        save_result("peers", run.to_json())
    scaling = None
    if not args.no_scaling:
        scaling = scaling_figures([run.growth[24], *run.corpus], run.repeats)
    text = section(run, scaling)
    print(text)
    if not args.no_write:
        plot(run, PLOT)
        write_sections(args.doc, {"peers": text})
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MeasurementFailed as exc:
        sys.exit(f"benchmark failed: {exc}")
