"""Metadata first: the record comes from the container whatever the pixels do.

Files whose pixel data is gone are built from the real truncated fixtures with
``tests/fixtures/strip.py`` (sensor data and previews zeroed); time zones come from
synthetic DNGs.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from rawproc.imaging import BUILTIN, CorruptFile, ImagingError, process_raw, read_metadata
from rawproc.imaging.rawfile import open_raw
from tests.fixtures.dngmaker import make_dng
from tests.fixtures.exiftool.reference import agrees, expected_fields, load
from tests.fixtures.strip import strip_pixels
from tests.samples import FIXTURES

FIXTURE_FILES = sorted(p.name for p in (FIXTURES / "raw").iterdir())
# The fields a user searches and reads first; each must survive the pixels' removal.
CORE_FIELDS = (
    "camera_make",
    "camera_model",
    "lens_model",
    "iso",
    "f_number",
    "exposure_time",
    "taken_at",
)


def stripped(name: str) -> bytes:
    return strip_pixels((FIXTURES / "raw" / name).read_bytes(), previews=True)


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_stripped_file_keeps_the_core_fields_exiftool_reads(name: str) -> None:
    record = read_metadata(io.BytesIO(stripped(name)), name=name)
    expected = expected_fields(load(name))
    compared = 0
    for field in CORE_FIELDS:
        actual = record[field]
        if field == "taken_at" and actual and record["time_zone_offset"]:
            actual = actual.removesuffix(record["time_zone_offset"])
        if expected[field] is not None:
            assert agrees(field, actual, expected[field]), (field, actual, expected[field])
            compared += 1
    assert compared >= 2


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_undecodable_file_without_preview_fails_with_its_metadata(name: str) -> None:
    data = stripped(name)
    with pytest.raises(ImagingError) as caught:
        process_raw(io.BytesIO(data), (BUILTIN["thumbnail"],), name=name)
    metadata = caught.value.metadata
    assert metadata is not None
    assert metadata == {**read_metadata(io.BytesIO(data), name=name), "raw": metadata["raw"]}
    assert metadata["camera_model"] == expected_fields(load(name))["camera_model"]


def test_stripping_zeroes_the_sensor_data_and_keeps_the_structure(tmp_path: Path) -> None:
    original = make_dng(tmp_path / "s.dng", width=240, height=160, preview="none").read_bytes()
    data = strip_pixels(original)
    assert len(data) == len(original)
    assert sum(a != b for a, b in zip(original, data, strict=True)) > 240 * 160
    assert read_metadata(io.BytesIO(data), name="s.dng") == read_metadata(
        io.BytesIO(original), name="s.dng"
    ) | {"raw": read_metadata(io.BytesIO(data), name="s.dng")["raw"]}


def test_file_libraw_refuses_still_gives_the_record(tmp_path: Path) -> None:
    path = tmp_path / "leica.dng"
    path.write_bytes(stripped("leica_m10_truncated.dng"))
    with open_raw(path) as raw:
        assert raw.libraw is None
    record = read_metadata(path)
    assert (record["camera_make"], record["camera_model"]) == ("Leica Camera AG", "LEICA M10")
    with pytest.raises(CorruptFile) as caught:
        process_raw(path, (BUILTIN["thumbnail"],))
    assert "leica.dng" in str(caught.value)
    assert caught.value.metadata is not None
    assert caught.value.metadata["camera_model"] == "LEICA M10"
    assert caught.value.metadata["orientation"] == 6


def test_not_a_raw_file_has_no_metadata() -> None:
    with pytest.raises(ImagingError) as caught:
        process_raw(io.BytesIO(b"\xff\xd8\xff\xe0" + bytes(200)), name="photo.jpg")
    assert caught.value.code == "unsupported_format"
    assert caught.value.metadata is None


# --- time zones ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exif", "time_zone_offset", "taken_at", "offset"),
    [
        ({"OffsetTimeOriginal": "+05:45"}, None, "2023-06-14T18:42:07+05:45", "+05:45"),
        ({"OffsetTimeOriginal": "-03:30"}, 9, "2023-06-14T18:42:07-03:30", "-03:30"),
        ({"OffsetTimeOriginal": None, "OffsetTime": "+01:00"}, None, None, "+01:00"),
        ({"OffsetTimeOriginal": None}, -7, "2023-06-14T18:42:07-07:00", "-07:00"),
        ({"OffsetTimeOriginal": None}, None, "2023-06-14T18:42:07", None),
    ],
)
def test_time_zone_is_kept_when_recorded_and_local_time_stays_local(
    tmp_path: Path,
    exif: dict[str, str | None],
    time_zone_offset: int | None,
    taken_at: str | None,
    offset: str | None,
) -> None:
    exif = {"DateTimeOriginal": "2023:06:14 18:42:07", **exif}
    path = make_dng(
        tmp_path / "tz.dng", width=64, height=48, exif=exif, time_zone_offset=time_zone_offset
    )
    record = read_metadata(path)
    assert record["time_zone_offset"] == offset
    assert record["taken_at"] == (taken_at or f"2023-06-14T18:42:07{offset}")


def test_maker_note_zone_is_used_when_exif_has_none() -> None:
    """The D7100's Nikon world-time zone (+05:30, no daylight saving) dates the shot."""
    record = read_metadata(FIXTURES / "raw" / "nikon_d7100_truncated.nef")
    assert record["time_zone_offset"] == "+05:30"
    assert record["taken_at"] == "2013-09-03T09:45:16.40+05:30"
