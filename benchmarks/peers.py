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
import importlib.metadata
import io
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.common import (
    DOC,
    ENGINE_MODULES,
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
DARKTABLE_CONFIG = WORK_DIR / "darktable-config"
TOOL_TIMEOUT_S = 300
CORES = 16
SENSOR_LABEL = "engine (sensor)"
NA = "-"  # a table cell with no figure

Modules = tuple[str, ...]  # imported by the child before its clock starts
PLAIN: Modules = ("exifread", "rawpy", "numpy", "PIL.Image")
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
    import flashraw
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
    """The interpreter flashraw runs under (the project's: it is a dependency) and its version."""
    try:
        version = importlib.metadata.version("flashraw")
    except importlib.metadata.PackageNotFoundError:
        return None, "not installed"
    return sys.executable, f"flashraw {version}"


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
    from benchmarks.peers_report import plot, section

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
