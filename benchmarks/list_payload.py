"""List payload per asset: the ``metadata`` field of a list item before and after the
raw EXIF map left it (the detail keeps it), over the fixtures and the sample corpus.

Sizes, not times: the bytes of ``metadata`` as the API writes it (compact JSON, UTF-8), per
file, from the engine's own record of each file. Run with ``uv run python -m
benchmarks.list_payload``; it rewrites the ``list_payload`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import DOC, REPO_ROOT, environment, write_sections

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "raw"
RAW_SUFFIXES = {".dng", ".nef", ".cr2", ".cr3", ".crw", ".arw", ".raf", ".orf", ".rw2", ".pef"}
RAW_SUFFIXES |= {".kdc", ".srw", ".nrw", ".mrw", ".x3f", ".3fr", ".iiq", ".erf", ".dcr"}


def corpus() -> list[Path]:
    from tests.samples import samples_dir

    roots = [FIXTURES]
    samples = samples_dir()
    if samples is not None:
        roots.append(samples)
    return sorted(
        {p for root in roots for p in root.rglob("*") if p.suffix.lower() in RAW_SUFFIXES}
    )


def api_bytes(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def measure() -> list[dict[str, Any]]:
    from rawproc.imaging import ImagingError, read_metadata

    rows = []
    for path in corpus():
        try:
            record = read_metadata(path)
        except ImagingError:
            continue
        light = {key: value for key, value in record.items() if key != "exif"}
        rows.append(
            {
                "file": path.name,
                "format": str(record.get("raw", {}).get("format") or path.suffix[1:].upper()),
                "maker_notes": any("MakerNote" in str(k) for k in record.get("exif", {})),
                "before": api_bytes(record),
                "after": api_bytes(light),
            }
        )
    return rows


def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        "## List payload per asset",
        "",
        "Bytes of the `metadata` field of one list item (compact JSON as the API writes it),",
        "before and after list items left out the raw `exif` tag map; the detail keeps it.",
        "The rest of an item (status, names, two variants with signed URLs) is the same",
        "before and after. Every RAW file of the test fixtures and the sample corpus.",
        "",
        "| files | median before | median after | largest before | largest after |",
        "|---|---:|---:|---:|---:|",
    ]
    groups = {
        "all": rows,
        "DNG": [r for r in rows if r["file"].lower().endswith(".dng")],
        "with maker notes": [r for r in rows if r["maker_notes"]],
    }
    for name, group in groups.items():
        if not group:
            continue
        before = [r["before"] for r in group]
        after = [r["after"] for r in group]
        lines.append(
            f"| {name} ({len(group)}) | {statistics.median(before):,.0f} "
            f"| {statistics.median(after):,.0f} | {max(before):,} | {max(after):,} |"
        )
    lines += ["", environment(), ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-write", action="store_true", help="print, leave the doc alone")
    args = parser.parse_args()
    section = report(measure())
    print(section)
    if not args.no_write:
        write_sections(DOC, {"list_payload": section})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
