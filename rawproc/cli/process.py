"""``rawproc process``: render RAW files on this machine into a folder.

Every file is processed in a worker process started by forkserver (or spawn), never
forked from this one, so LibRaw state never leaks between files. A native crash in a
worker costs only the file that caused it: the pool is rebuilt, and the files that were
in flight when it broke are retried one at a time to find the culprit.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rawproc.cli._openmp import share_cores

if TYPE_CHECKING:
    from rawproc.imaging import EngineOptions, ProcessResult, RenditionSpec
    from rawproc.imaging.specs import Format

Record = dict[str, Any]

BUILTIN_NAMES = ("thumbnail", "preview", "full")
FORMAT_CHOICES = ("jpeg", "webp", "avif")
# Bounds the memory a long-lived worker can accumulate (allocator fragmentation,
# LibRaw buffers); forkserver makes replacing a worker cheap.
TASKS_PER_CHILD = 20
# Extensions that are never RAW, skipped without reading when scanning folders.
NOT_RAW_EXTENSIONS = frozenset(
    (
        *(".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".heic", ".heif", ".tif", ".tiff"),
        *(".xmp", ".pp3", ".dop", ".json", ".txt", ".md", ".xml", ".thm", ".db", ".ini"),
        *(".mov", ".mp4", ".wav", ".pdf", ".html"),
    )
)
SNIFF_BYTES = 4096
# Messages of the failures the engine does not describe itself.
INTERNAL_ERROR = "An unexpected error stopped the processing of this file; please report it."
OUT_OF_MEMORY = "The computer ran out of memory processing this file; try fewer jobs (-j)."
WORKER_CRASHED = "The worker process died reading this file."
CRASH_DETAIL = "the process pool broke while this file was the only one in flight"


def add_parser(subparsers: Any, name: str, summary: str) -> None:
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=summary + " For each input NAME.EXT, writes OUTDIR/NAME/<rendition>.<ext> and"
        " OUTDIR/NAME/metadata.json; a second input with the same NAME becomes NAME-2.",
    )
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="RAW files, or folders to search recursively"
    )
    parser.add_argument(
        "-o", "--outdir", default="out", help="output folder (default: ./out)", type=Path
    )
    parser.add_argument(
        "--format",
        choices=FORMAT_CHOICES,
        default="jpeg",
        help="format of the built-in renditions (default: jpeg)",
    )
    parser.add_argument(
        "--renditions",
        default="thumbnail,preview",
        metavar="LIST",
        help="comma-separated built-in names (thumbnail, preview, full), specs"
        " size[.format[.quality]] with size in pixels or 'full' (1080.webp, full.avif,"
        " 2048.jpeg.85), or name=spec (default: thumbnail,preview)",
    )
    parser.add_argument(
        "--quality",
        type=_bounded_int(1, 100),
        help="encoder quality 1-100 for renditions that do not set their own",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=_bounded_int(1, 1024),
        default=_cpu_count(),
        help="files processed in parallel (default: number of cores, %(default)s here)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON line per file on standard output"
    )
    parser.add_argument(
        "--force-sensor",
        action="store_true",
        help="render from sensor data even when the file embeds a large enough preview",
    )
    parser.add_argument(
        "--copy-exif", action="store_true", help="copy the EXIF record into the renditions"
    )
    parser.add_argument(
        "--keep-gps",
        action="store_true",
        help="with --copy-exif, keep the GPS position (dropped by default)",
    )
    parser.add_argument(
        "--max-pixels",
        type=_bounded_int(1, 2**40),
        help="refuse images with more pixels than this (decompression-bomb guard)",
    )


def run(args: argparse.Namespace) -> int:
    from rawproc.imaging import EngineOptions

    try:
        specs = parse_renditions(args.renditions, args.format, args.quality)
    except ValueError as exc:
        return _usage_error(str(exc))
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        return _usage_error("no such file or folder: " + ", ".join(missing))
    files = collect_inputs(args.paths, exclude=args.outdir)
    if not files:
        return _usage_error("no RAW files found in " + ", ".join(args.paths))

    option_values: dict[str, Any] = {
        "force_sensor": args.force_sensor,
        "copy_exif": args.copy_exif,
        "strip_gps": not args.keep_gps,
    }
    if args.max_pixels is not None:
        option_values["max_pixels"] = args.max_pixels
    options = EngineOptions(**option_values)
    jobs = [
        Job(str(path), str(args.outdir / name), specs, options)
        for path, name in zip(files, assign_output_names(files), strict=True)
    ]
    reporter = _Reporter(len(jobs), as_json=args.json)
    started = time.perf_counter()
    try:
        execute(jobs, min(args.jobs, len(jobs)), reporter.report)
    except KeyboardInterrupt:
        reporter.close()
        print("rawproc process: interrupted", file=sys.stderr)
        return 130
    reporter.close()
    reporter.summary(time.perf_counter() - started, args.outdir)
    return 1 if reporter.failed else 0


def parse_renditions(
    text: str, fmt: Format, quality: int | None = None
) -> tuple[RenditionSpec, ...]:
    """Turn ``--renditions`` into specs, written the way the settings and the API write
    them (``rawproc.imaging.specs.parse_rendition``); ``fmt`` applies to the built-in
    names only.

    ``quality`` fills in every spec that does not carry its own. Raises ``ValueError``
    with a message meant for the user.
    """
    from rawproc.imaging import BUILTIN, RenditionSpec
    from rawproc.imaging.specs import parse_rendition

    specs: list[RenditionSpec] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item in BUILTIN:
            spec = BUILTIN[item].with_format(fmt)
        else:
            try:
                spec = parse_rendition(item, BUILTIN)
            except ValueError as exc:
                raise ValueError(
                    f"unknown rendition {item!r} ({exc}): use {', '.join(BUILTIN_NAMES)},"
                    " a spec such as 1080.webp, full.avif or 2048.jpeg.85, or name=spec"
                ) from None
        if quality is not None and spec.quality is None:
            spec = RenditionSpec(spec.name, spec.size, spec.format, quality)
        if any(s.name == spec.name for s in specs):
            raise ValueError(f"rendition {spec.name!r} is listed twice")
        specs.append(spec)
    if not specs:
        raise ValueError("--renditions lists no rendition")
    return tuple(specs)


def collect_inputs(paths: Iterable[str], exclude: Path | None = None) -> list[Path]:
    """Files to process, in a stable order, each once.

    A file named on the command line is always attempted (and reported if it is not
    RAW); inside folders, only files whose first bytes look like a RAW file are kept,
    so sidecars and exported JPEGs are skipped. Hidden entries and ``exclude`` (the
    output folder) are not searched.
    """
    from rawproc.imaging.rawfile import sniff_format

    excluded = exclude.resolve() if exclude is not None else None
    seen: set[str] = set()
    found: list[Path] = []

    def add(path: Path) -> None:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            found.append(path)

    for text in paths:
        root = Path(text)
        if not root.is_dir():
            add(root)
            continue
        for folder, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not d.startswith(".") and (Path(folder) / d).resolve() != excluded
            )
            for filename in sorted(filenames):
                path = Path(folder) / filename
                if filename.startswith(".") or path.suffix.lower() in NOT_RAW_EXTENSIONS:
                    continue
                if sniff_format(_head(path)) is not None:
                    add(path)
    return found


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(SNIFF_BYTES)
    except OSError:
        return b""


def assign_output_names(paths: Sequence[Path]) -> list[str]:
    """One output folder name per input: the file's stem, then ``stem-2``, ``stem-3``...

    Names are compared case-insensitively so the outputs do not collide on
    case-insensitive file systems either. A stem of only dots (``...NEF`` gives ``..``)
    would name a folder outside OUTDIR, so its dots become underscores.
    """
    taken: set[str] = set()
    names: list[str] = []
    for path in paths:
        stem = path.stem if path.stem.strip(".") else path.name.replace(".", "_")
        candidate, n = stem, 1
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{stem}-{n}"
        taken.add(candidate.casefold())
        names.append(candidate)
    return names


@dataclass(frozen=True)
class Job:
    """One input file and where its outputs go; sent to a worker process."""

    source: str
    outdir: str
    specs: tuple[RenditionSpec, ...]
    options: EngineOptions


def process_one(job: Job) -> Record:
    """Worker entry point: render one file, write its outputs, describe the result."""
    from rawproc.imaging import ImagingError, process_raw

    started = time.perf_counter()
    name = Path(job.source).name
    try:
        result = process_raw(job.source, job.specs, job.options, name=name)
    except ImagingError as exc:
        return failure_record(
            job, exc.code, exc.message, started, exc.detail, metadata=exc.metadata
        )
    except MemoryError as exc:
        return failure_record(job, "out_of_memory", OUT_OF_MEMORY, started, _describe(exc))
    except Exception as exc:  # an engine defect must not stop the batch
        return failure_record(job, "internal_error", INTERNAL_ERROR, started, _describe(exc))
    write_started = time.perf_counter()
    try:
        renditions = _write_outputs(Path(job.outdir), result)
    except (OSError, TypeError, ValueError) as exc:
        message = f"The outputs cannot be written to {job.outdir}."
        return failure_record(job, "write_error", message, started, _describe(exc))
    now = time.perf_counter()
    timings = {
        **result.timings_ms,
        "write": _ms(now - write_started),
        "total": _ms(now - started),
    }
    return {
        "file": job.source,
        "status": "ok",
        "error": None,
        "output_dir": job.outdir,
        "degraded": result.degraded,
        "decoder": result.decoder,
        "warnings": [warning.as_dict() for warning in result.warnings],
        "renditions": renditions,
        "metadata": result.metadata,
        "timings_ms": timings,
    }


def failure_record(
    job: Job,
    code: str,
    message: str,
    started: float | None = None,
    detail: str = "",
    *,
    metadata: Record | None = None,
) -> Record:
    """The record of a file that failed: ``message`` is for people, ``detail`` technical;
    ``metadata`` is what the engine read before failing, if anything."""
    timings = {"total": _ms(time.perf_counter() - started)} if started is not None else {}
    return {
        "file": job.source,
        "status": "failed",
        "error": {"code": code, "message": message, "detail": detail},
        "output_dir": None,
        "degraded": False,
        "decoder": None,
        "warnings": [],
        "renditions": {},
        "metadata": metadata,
        "timings_ms": timings,
    }


def _write_outputs(outdir: Path, result: ProcessResult) -> dict[str, Record]:
    """Write renditions and ``metadata.json`` atomically, so a crash leaves no half file."""
    outdir.mkdir(parents=True, exist_ok=True)
    renditions: dict[str, Record] = {}
    for rendition in result.renditions:
        spec = rendition.spec
        path = outdir / f"{spec.name}.{spec.extension}"
        _write_atomic(path, rendition.data)
        renditions[spec.name] = {
            "path": str(path),
            "width": rendition.width,
            "height": rendition.height,
            "bytes": rendition.size_bytes,
            "format": spec.format,
            "source": rendition.source,
        }
    metadata = json.dumps(result.metadata, indent=2, ensure_ascii=False) + "\n"
    _write_atomic(outdir / "metadata.json", metadata.encode())
    return renditions


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def execute(jobs: Sequence[Job], workers: int, report: Callable[[Record], None]) -> None:
    """Run every job in worker processes and report exactly one record per job.

    Files in flight when a worker dies are suspects, not culprits: they are retried one
    at a time in a single-worker pool, where a crash can only be that file's.
    """
    suspects: list[Job] = []
    _run_pool(jobs, workers, 2 * workers, report, suspects.extend)

    def crashed(culprits: list[Job]) -> None:
        for job in culprits:
            report(failure_record(job, "worker_crashed", WORKER_CRASHED, detail=CRASH_DETAIL))

    _run_pool(suspects, 1, 1, report, crashed)


def _run_pool(
    jobs: Sequence[Job],
    workers: int,
    window: int,
    report: Callable[[Record], None],
    on_crash: Callable[[list[Job]], None],
) -> None:
    """Feed ``jobs`` to a pool with at most ``window`` submitted at once; rebuild it on a crash.

    The window bounds how many files one crash turns into suspects.
    """
    queue = deque(jobs)
    while queue:
        lost: list[Job] = []
        with _make_executor(workers) as pool:
            in_flight: dict[Future[Record], Job] = {}
            try:
                while (queue or in_flight) and not lost:
                    while queue and len(in_flight) < window:
                        job = queue.popleft()
                        in_flight[pool.submit(process_one, job)] = job
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        job = in_flight.pop(future)
                        if not _collect(future, job, report):
                            lost.append(job)
                # After a crash every remaining future resolves at once, most as broken.
                for future, job in in_flight.items():
                    if not _collect(future, job, report):
                        lost.append(job)
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        if lost:
            on_crash(lost)


def _collect(future: Future[Record], job: Job, report: Callable[[Record], None]) -> bool:
    """Report a finished job; ``False`` when its worker died and the outcome is unknown."""
    try:
        record = future.result()
    except BrokenProcessPool:
        return False
    except Exception as exc:  # e.g. a result that cannot be sent back
        record = failure_record(job, "internal_error", INTERNAL_ERROR, detail=_describe(exc))
    report(record)
    return True


def _make_executor(workers: int) -> ProcessPoolExecutor:
    share_cores(os.environ, workers)  # inherited by the forkserver and its workers
    methods = multiprocessing.get_all_start_methods()
    method = "forkserver" if "forkserver" in methods else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        # Workers fork from a server that has imported the engine, so they start fast.
        context.set_forkserver_preload(["rawproc.imaging", __name__])
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        max_tasks_per_child=TASKS_PER_CHILD,
        initializer=_worker_start,
    )


def _worker_start() -> None:
    from rawproc.imaging.allocator import tune_allocator

    tune_allocator()


class _Reporter:
    """Progress bar (terminals only), JSON lines on stdout, failures and summary on stderr."""

    def __init__(self, total: int, *, as_json: bool) -> None:
        from tqdm import tqdm

        self.total = total
        self.as_json = as_json
        self.ok = 0
        self.degraded = 0
        self.failed = 0
        self.bar = tqdm(total=total, unit="file", file=sys.stderr, disable=not sys.stderr.isatty())

    def report(self, record: Record) -> None:
        name = Path(record["file"]).name
        if record["status"] == "ok":
            self.ok += 1
            self.degraded += bool(record["degraded"])
        else:
            self.failed += 1
            self.bar.write(f"failed: {name}: {record['error']['message']}", file=sys.stderr)
        for warning in record["warnings"]:
            self.bar.write(f"warning: {name}: {warning['message']}", file=sys.stderr)
        if self.as_json:
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()

    def summary(self, seconds: float, outdir: Path) -> None:
        rate = self.total / seconds if seconds > 0 else 0.0
        degraded = f" ({self.degraded} from the camera's preview)" if self.degraded else ""
        print(
            f"{self.total} files: {self.ok} ok{degraded}, {self.failed} failed"
            f" in {seconds:.1f} s ({rate:.2f} files/s); outputs in {outdir}",
            file=sys.stderr,
        )


def _usage_error(message: str) -> int:
    print(f"rawproc process: error: {message}", file=sys.stderr)
    return 2


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)
