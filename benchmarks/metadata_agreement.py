"""How often each metadata reader agrees with exiftool, field by field and per format.

    uv run python benchmarks/metadata_agreement.py                 # measure, then report
    uv run python benchmarks/metadata_agreement.py --report-only   # report the last run

Two readers are compared on every file with an exiftool reference in
``tests/fixtures/exiftool/`` (the fixtures and the sample corpus; a corpus file that is
absent is skipped): **exiv2**, the reader the engine uses (``capture_fields`` over
libexiv2's tags), and **exifread**, the previous reader's approach (exifread's public
``process_file(details=True)``, with its maker notes, mapped to the same fields). Both are
judged by one rule (``tests/fixtures/exiftool/reference.agrees``). A field counts for a
file when exiftool or the reader has a value; agreeing means the same value, and a reader
that reports nothing where exiftool has a value disagrees.

The run also strips each file's pixel data (``tests/fixtures/strip.py``, sensor data and
previews zeroed) and checks that the engine's record keeps the same make, model, lens,
exposure and date. Measuring writes ``benchmarks/.work/metadata_agreement.json``;
reporting prints the Markdown tables of ``docs/metadata.md``.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import re
import sys
from collections import defaultdict
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rawproc.imaging import ImagingError, read_metadata  # noqa: E402
from rawproc.imaging.exiv2_reader import read_exiv2  # noqa: E402
from rawproc.imaging.metadata import (  # noqa: E402
    EXPOSURE_PROGRAMS,
    METERING_MODES,
    capture_fields,
)
from rawproc.imaging.rawfile import sniff_format  # noqa: E402
from tests.fixtures.exiftool.reference import (  # noqa: E402
    FIELDS,
    agrees,
    expected_fields,
    load,
    references,
)
from tests.fixtures.strip import strip_pixels  # noqa: E402
from tests.samples import FIXTURES, samples_dir  # noqa: E402

RESULT = ROOT / "benchmarks" / ".work" / "metadata_agreement.json"
READERS = ("exiv2", "exifread")
SURVIVAL_FIELDS = ("camera_make", "camera_model", "lens_model", "iso", "exposure_time", "taken_at")
_DATETIME = re.compile(r"(\d{4}):(\d\d):(\d\d) (\d\d):(\d\d):(\d\d)")
_OFFSET = re.compile(r"([+-])(\d\d):(\d\d)")


def locate(name: str) -> Path | None:
    fixture = FIXTURES / "raw" / name
    if fixture.is_file():
        return fixture
    root = samples_dir()
    if root is None:
        return None
    return next((p for p in sorted(root.glob(f"*/{name}")) if p.is_file()), None)


# --- the exifread candidate -------------------------------------------------------------


class _Exifread:
    def __init__(self, path: Path) -> None:
        import exifread

        with path.open("rb") as fh:
            try:
                self.tags: dict[str, Any] = exifread.process_file(
                    fh, details=True, extract_thumbnail=False
                )
            except Exception:  # exifread on bytes it does not know (CR3, CRW, X3F...)
                self.tags = {}

    def printed(self, *keys: str) -> str | None:
        for key in keys:
            tag = self.tags.get(key)
            if tag is not None:
                text = str(tag.printable).replace("\x00", " ").strip()
                if text and text not in ("[]", "0"):
                    return text
        return None

    def number(self, *keys: str) -> float | None:
        for key in keys:
            values = getattr(self.tags.get(key), "values", None)
            if isinstance(values, list) and values:
                value = values[0]
                if isinstance(value, Fraction) and value.denominator == 0:
                    continue
                if isinstance(value, int | float | Fraction):
                    return float(value)
        return None

    def numbers(self, key: str) -> list[float] | None:
        values = getattr(self.tags.get(key), "values", None)
        if not isinstance(values, list) or not values:
            return None
        try:
            return [float(v) for v in values]
        except (TypeError, ValueError, ZeroDivisionError):
            return None


def exifread_fields(path: Path) -> dict[str, Any]:
    t = _Exifread(path)
    flash = t.number("EXIF Flash")
    wb = t.number("EXIF WhiteBalance")
    stamp = _DATETIME.match(t.printed("EXIF DateTimeOriginal", "Image DateTimeOriginal") or "")
    taken = None
    if stamp is not None:
        try:
            year, month, day, hour, minute, second = (int(g) for g in stamp.groups()[:6])
            taken = datetime(year, month, day, hour, minute, second).isoformat()
        except ValueError:
            taken = None
        subsec = t.printed("EXIF SubSecTimeOriginal")
        if taken and subsec and subsec.isdigit():
            taken += f".{subsec}"
    offset = None
    for key in ("EXIF OffsetTimeOriginal", "EXIF OffsetTime"):
        text = t.printed(key)
        if text and _OFFSET.fullmatch(text):
            offset = text
            break
    if offset is None and (hours := t.number("Image TimeZoneOffset")) is not None:
        offset = f"{'-' if hours < 0 else '+'}{abs(int(hours)):02d}:00"
    code = t.number("EXIF ColorSpace")
    interop = (t.printed("Interoperability InteroperabilityIndex") or "").upper()
    maker_space = (t.printed("MakerNote ColorSpace") or "").lower().replace(" ", "")
    colour = (
        "sRGB"
        if code == 1
        else "Adobe RGB"
        if code == 2 or interop == "R03" or maker_space == "adobergb"
        else "sRGB"
        if maker_space == "srgb"
        else "Uncalibrated"
        if code == 0xFFFF
        else None
    )
    lat, lon = t.numbers("GPS GPSLatitude"), t.numbers("GPS GPSLongitude")
    gps = None
    if lat and lon:
        gps = {
            "latitude": _dms(lat) * (-1 if (t.printed("GPS GPSLatitudeRef") or "") == "S" else 1),
            "longitude": _dms(lon) * (-1 if (t.printed("GPS GPSLongitudeRef") or "") == "W" else 1),
        }
    lens = t.printed("EXIF LensModel", "MakerNote LensModel", "MakerNote LensType")
    if lens is not None and (lens.isdigit() or lens.lower() in ("n/a", "unknown")):
        lens = None
    shutter = t.number("MakerNote TotalShutterReleases", "MakerNote ShutterCount")
    program = t.number("EXIF ExposureProgram", "Image ExposureProgram")
    metering = t.number("EXIF MeteringMode", "Image MeteringMode")
    return {
        "camera_make": t.printed("Image Make"),
        "camera_model": t.printed("Image Model"),
        "lens_model": lens,
        "lens_make": t.printed("EXIF LensMake"),
        "lens_serial": t.printed("EXIF LensSerialNumber"),
        "body_serial": t.printed(
            "EXIF BodySerialNumber", "Image CameraSerialNumber", "MakerNote SerialNumber"
        ),
        "shutter_count": int(shutter) if shutter is not None else None,
        "iso": _int(t.number("EXIF ISOSpeedRatings", "Image ISOSpeedRatings")),
        "f_number": t.number("EXIF FNumber", "Image FNumber"),
        "exposure_time": t.number("EXIF ExposureTime", "Image ExposureTime"),
        "focal_length_mm": t.number("EXIF FocalLength", "Image FocalLength"),
        "focal_length_35mm": _int(t.number("EXIF FocalLengthIn35mmFilm")) or None,
        "exposure_bias_ev": t.number("EXIF ExposureBiasValue"),
        "exposure_program": EXPOSURE_PROGRAMS.get(int(program)) if program is not None else None,
        "metering_mode": METERING_MODES.get(int(metering)) if metering is not None else None,
        "flash_fired": bool(int(flash) & 1) if flash is not None else None,
        "white_balance": {0: "Auto", 1: "Manual"}.get(int(wb)) if wb is not None else None,
        "white_balance_setting": t.printed("MakerNote WhiteBalance"),
        "colour_space": colour,
        "taken_at": taken,
        "time_zone_offset": offset,
        "orientation": _int(t.number("Image Orientation")),
        "gps": gps,
        "software": t.printed("Image Software"),
        "artist": t.printed("Image Artist"),
        "copyright": t.printed("Image Copyright"),
    }


def _int(value: float | None) -> int | None:
    return int(value) if value is not None and math.isfinite(value) else None


def _dms(values: list[float]) -> float:
    degrees, minutes, seconds = [*values, 0.0, 0.0][:3]
    return degrees + minutes / 60 + seconds / 3600


# --- measuring ------------------------------------------------------------------------------


def exiv2_fields(path: Path) -> dict[str, Any]:
    return capture_fields(read_exiv2(path))


def survives_stripping(path: Path) -> dict[str, Any]:
    """Whether the record's core fields are the same once the pixel data is zeroed."""
    data = path.read_bytes()
    try:
        before = read_metadata(io.BytesIO(data), name=path.name)
        after = read_metadata(io.BytesIO(strip_pixels(data, previews=True)), name=path.name)
    except ImagingError as exc:
        return {"survives": None, "note": exc.code}
    lost = [f for f in SURVIVAL_FIELDS if before[f] is not None and after[f] != before[f]]
    kept = [f for f in SURVIVAL_FIELDS if before[f] is not None and f not in lost]
    zeroed = sum(1 for a, b in zip(data, strip_pixels(data, previews=True), strict=True) if a != b)
    return {"survives": not lost, "kept": kept, "lost": lost, "zeroed_bytes": zeroed}


def measure() -> dict[str, Any]:
    files = []
    for name in references():
        path = locate(name)
        if path is None:
            continue
        expected = expected_fields(load(name))
        readers = {"exiv2": exiv2_fields(path), "exifread": exifread_fields(path)}
        fields = {}
        for field in FIELDS:
            want = expected[field]
            outcome: dict[str, bool | None] = {}
            for reader, got in readers.items():
                value = got[field]
                if want is None and value is None:
                    outcome[reader] = None  # nobody has a value: not counted
                else:
                    outcome[reader] = agrees(field, value, want)
            fields[field] = outcome
        head = path.read_bytes()[:4096]
        files.append(
            {
                "file": name,
                "format": sniff_format(head) or "not RAW",
                "fields": fields,
                "stripped": survives_stripping(path),
            }
        )
        print(f"measured {name}", file=sys.stderr)
    return {"files": files}


# --- reporting ------------------------------------------------------------------------------


def _rate(hits: int, total: int) -> str:
    return f"{hits}/{total}" if total else "-"


def report(result: dict[str, Any]) -> str:
    files = result["files"]
    lines = ["| field | exiv2 | exifread |", "|---|---|---|"]
    totals = {r: [0, 0] for r in READERS}
    for field in FIELDS:
        cells = []
        for reader in READERS:
            outcomes = [f["fields"][field][reader] for f in files]
            counted = [o for o in outcomes if o is not None]
            totals[reader][0] += sum(counted)
            totals[reader][1] += len(counted)
            cells.append(_rate(sum(counted), len(counted)))
        lines.append(f"| `{field}` | {' | '.join(cells)} |")
    lines.append(
        "| **all fields** | " + " | ".join(f"**{_rate(*totals[r])}**" for r in READERS) + " |"
    )
    by_format: dict[str, dict[str, list[int]]] = defaultdict(lambda: {r: [0, 0] for r in READERS})
    count: dict[str, int] = defaultdict(int)
    for f in files:
        count[f["format"]] += 1
        for outcome in f["fields"].values():
            for reader in READERS:
                if outcome[reader] is not None:
                    by_format[f["format"]][reader][0] += outcome[reader]
                    by_format[f["format"]][reader][1] += 1
    lines += ["", "| format | files | exiv2 | exifread |", "|---|---|---|---|"]
    for fmt in sorted(by_format):
        row = " | ".join(_rate(*by_format[fmt][r]) for r in READERS)
        lines.append(f"| {fmt} | {count[fmt]} | {row} |")
    lines += [
        "",
        "| file | format | pixel data removed | fields kept | lost |",
        "|---|---|---|---|---|",
    ]
    for f in files:
        s = f["stripped"]
        if s["survives"] is None:
            verdict, kept, lost = f"not a RAW ({s['note']})", "-", "-"
        else:
            verdict = (
                f"{s['zeroed_bytes']:,} bytes zeroed"
                if s["zeroed_bytes"]
                else "nothing left to zero"
            )
            kept, lost = ", ".join(s["kept"]) or "-", ", ".join(s["lost"]) or "none"
        lines.append(f"| {f['file']} | {f['format']} | {verdict} | {kept} | {lost} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report-only", action="store_true", help="report the last run")
    args = parser.parse_args()
    if not args.report_only:
        RESULT.parent.mkdir(parents=True, exist_ok=True)
        RESULT.write_text(json.dumps(measure(), indent=1) + "\n")
    print(report(json.loads(RESULT.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
