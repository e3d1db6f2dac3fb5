"""The cost of a ``full.tiff16`` master against the 8-bit ``full`` JPEG, in the same run.

Three jobs per file, each in a fresh interpreter (``benchmarks.common.measure``, so the
peak RSS is that job's alone), alternating within each repeat; the median of the repeats:

- ``full.jpeg``: the 8-bit full-size JPEG alone (the baseline);
- ``full.tiff16``: the 16-bit ProPhoto TIFF alone;
- ``both``: the two in one job, from one develop.

Results go into ``docs/benchmarks.md`` between the ``tiff16`` markers.

    uv run python -m benchmarks.tiff16            # needs the sample corpus
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import (
    DOC,
    Measurement,
    Summary,
    engine_measurement,
    environment,
    load_average,
    load_note,
    run_matrix,
    write_sections,
)
from benchmarks.common import child as run_child
from benchmarks.common import measure as measure_child

DEFAULT_FILES = (
    "synthetic/nef_24mp_nikon-d7100_uncompressed.nef",
    "synthetic/dng_24mp_nikon-d7100_o1.dng",
)
PIPELINES = ("full.jpeg", "full.tiff16", "both")


def _job(path: Path, pipeline: str) -> Measurement:
    from rawproc.imaging import EngineOptions, RenditionSpec, process_raw

    jpeg, tiff = RenditionSpec("full", None), RenditionSpec("master", None, "tiff16")
    specs = {"full.jpeg": (jpeg,), "full.tiff16": (tiff,), "both": (jpeg, tiff)}[pipeline]
    return engine_measurement(process_raw(path, specs, EngineOptions(force_sensor=True)))


def child(pipeline: str, path: Path) -> None:
    run_child(("rawproc.imaging",), lambda p: _job(p, pipeline), path)


def _measure(pipeline: str, path: Path) -> Measurement:
    return measure_child("benchmarks.tiff16", pipeline, path)


def report(results: dict[tuple[str, str], Summary], files: Sequence[Path], note: str) -> str:
    lines = [
        "## 16-bit TIFF masters (`tiff16`)",
        "",
        "`uv run python -m benchmarks.tiff16`: a full-size `tiff16` master (16-bit ProPhoto "
        "RGB, deflate with predictor) against the full-size 8-bit JPEG of the same file, "
        "each job in a fresh process, median of the repeats; `both` is the two in one job "
        "from one develop. Peak RSS is the job's, above the interpreter with the engine "
        "imported.",
        "",
        "| file | MP | job | time (s) | vs JPEG | peak RSS above baseline (MB) | "
        "develop (s) | encode (s) |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for path in files:
        base = results.get((path.name, "full.jpeg"))
        for pipeline in PIPELINES:
            s = results.get((path.name, pipeline))
            if s is None or not s.ok:
                continue
            ratio = s.ms / base.ms if base is not None and base.ok else float("nan")
            develop = s.stages.get("decode_full", 0.0) / 1000
            encode = s.stages.get("encode", 0.0) / 1000
            lines.append(
                f"| {path.name} | {s.megapixels:.1f} | `{pipeline}` | {s.ms / 1000:.2f} | "
                f"{ratio:.2f}x | {s.peak_mb - s.baseline_mb:.0f} | {develop:.2f} | "
                f"{encode:.2f} |"
            )
    lines += ["", note, "", environment()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("PIPELINE", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print, do not update docs")
    parser.add_argument("files", nargs="*", help="corpus-relative paths (default: two 24 MP)")
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0
    from tests.samples import samples_dir  # imported here: children must not load pytest

    root = samples_dir()
    if root is None:
        print("skipped: the RAW sample corpus is absent (set RAWPROC_SAMPLES_DIR)")
        return 0
    files = [root / f for f in (args.files or DEFAULT_FILES) if (root / f).is_file()]
    if not files:
        print("skipped: none of the 24 MP files is in the corpus")
        return 0
    started = load_average()
    results = run_matrix([(f, PIPELINES) for f in files], args.repeats, _measure)
    section = report(results, files, load_note(started))
    print(section)
    if not args.no_write:
        write_sections(DOC, {"tiff16": section})
    return 0


if __name__ == "__main__":
    sys.exit(main())
