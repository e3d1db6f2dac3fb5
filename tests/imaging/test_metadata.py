"""The metadata record: its shape, and its agreement with exiftool on real files.

Reference values in ``tests/fixtures/exiftool/`` were produced by exiftool itself (see
``generate.py`` there); the corpus files are reached through ``tests.samples``.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, TiffImagePlugin

from rawproc.imaging.metadata import extract_metadata, format_exposure_time
from rawproc.imaging.rawfile import open_raw
from tests.fixtures.exiftool.reference import FIELDS, agrees, expected_fields, load, references
from tests.samples import FIXTURES, sample

RAW_FIXTURES = FIXTURES / "raw"
EXIFTOOL = FIXTURES / "exiftool"

RECORD_KEYS = {
    "camera_make", "camera_model", "lens_make", "lens_model", "serial_number", "iso",
    "f_number", "exposure_time", "exposure_time_display", "focal_length_mm",
    "focal_length_35mm", "exposure_bias_ev", "exposure_program", "metering_mode",
    "flash_fired", "white_balance", "taken_at", "orientation", "width", "height", "gps",
    "software", "artist", "copyright", "raw", "exif", "lens_serial", "body_serial",
    "shutter_count", "white_balance_setting", "colour_space", "time_zone_offset",
}  # fmt: skip
RAW_KEYS = {
    "format", "cfa_pattern", "black_level", "white_level", "camera_wb", "raw_width",
    "raw_height",
}  # fmt: skip
CORPUS_FILES = {
    "canon_eos-30d.cr2": "real-full/canon_eos-30d.cr2",
    "nikon_d5000_converted.dng": "real-full/nikon_d5000_converted.dng",
    "sony_ilce-7rm3_apsc-crop.arw": "real-full/sony_ilce-7rm3_apsc-crop.arw",
    "dng_12mp_portrait_o6.dng": "synthetic/dng_12mp_portrait_o6.dng",
    "dng_24mp_nikon-d7100_o1.dng": "synthetic/dng_24mp_nikon-d7100_o1.dng",
    "nef_24mp_nikon-d7100_uncompressed.nef": "synthetic/nef_24mp_nikon-d7100_uncompressed.nef",
}
FIXTURE_FILES = sorted(p.name for p in RAW_FIXTURES.iterdir())
WHITE_BALANCE = {0: "Auto", 1: "Manual"}
DECODED_SERIAL_TAGS = {"ExifIFD:SerialNumber", "Canon:SerialNumber", "Nikon:SerialNumber"}


def metadata_of(path: Path, **kwargs: Any) -> dict[str, Any]:
    with open_raw(path) as raw:
        return extract_metadata(raw, **kwargs)


def locate(name: str) -> Path:
    return RAW_FIXTURES / name if name in FIXTURE_FILES else sample(CORPUS_FILES[name])


# --- agreement with exiftool --------------------------------------------------------------

CORPUS_BY_NAME = {Path(p).name: p for p in (
    "raw/nikon_coolscan-iv-ed_filmscanner.nef", "raw/canon_eos-6d_lossy-reduced.dng",
    "raw/blackmagic_pocket-cinema-4k.dng", "raw/canon_eos-d30.crw", "raw/kodak_dc50.kdc",
    "metadata-only/nikon_d7100_truncated.nef", "metadata-only/nikon_d70_exiftool-stub.nef",
    "metadata-only/nikon_d70s_truncated.nef", "metadata-only/canon_eos-1ds-mk3_truncated.cr2",
    "metadata-only/canon_eos-350d_exiftool-stub.cr2", "metadata-only/sony_slt-a55v_truncated.arw",
    "metadata-only/sony_dslr-a330_truncated.arw", "metadata-only/leica_m10_truncated.dng",
    "metadata-only/apple_iphone-12-pro_stub.dng", "metadata-only/pentax_k-3-ii_truncated.pef",
    "metadata-only/panasonic_dmc-lx3_exiftool-stub.rw2",
    "metadata-only/leaf_credo-40_exiftool-stub.iiq", *CORPUS_FILES.values(),
)}  # fmt: skip
# Fields where the adopted reader and exiftool differ on a file, each for a stated reason
# (docs/metadata.md, "Disagreements"); every other field of every file must agree.
KNOWN_DISAGREEMENTS = {
    # Shutter counts exiv2 does not decode: Canon CameraInfo, Sony's ciphered 0x9050 data.
    ("canon_eos-1ds-mk3_truncated.cr2", "shutter_count"),
    ("sony_dslr-a330_truncated.arw", "shutter_count"),
    ("sony_slt-a55v_truncated.arw", "shutter_count"),
    ("sony_ilce-7rm3_apsc-crop.arw", "shutter_count"),
    ("sony_dslr-a330_truncated.arw", "lens_model"),  # exiv2: "Sony AF DT 55-200mm ..."
    # CIFF: exiv2 reads the serial as two numbers and the shutter time from another record.
    ("canon_eos-d30.crw", "body_serial"),
    ("canon_eos-d30.crw", "exposure_time"),
    ("canon_eos-d30.crw", "orientation"),
    # Phase One / Leaf maker notes: exiv2 has no decoder for them.
    ("leaf_credo-40_exiftool-stub.iiq", "lens_model"),
    ("leaf_credo-40_exiftool-stub.iiq", "body_serial"),
    ("leaf_credo-40_exiftool-stub.iiq", "orientation"),
    # Values exiv2 reads where exiftool stops at a damaged or unusual IFD.
    ("kodak_dc50.kdc", "iso"),
    ("kodak_dc50.kdc", "taken_at"),
    ("leica_m10_truncated.dng", "taken_at"),
    ("panasonic_dmc-lx3_exiftool-stub.rw2", "colour_space"),  # EXIF of the embedded JPEG
}


def locate_any(name: str) -> Path:
    if name in FIXTURE_FILES:
        return RAW_FIXTURES / name
    return sample(CORPUS_BY_NAME[name])


@pytest.mark.parametrize(
    "name",
    [n if n in FIXTURE_FILES else pytest.param(n, marks=pytest.mark.samples) for n in references()],
)
def test_fields_agree_with_exiftool(name: str) -> None:
    """Every field of the record is exiftool's, for every file with a reference."""
    path = locate_any(name)
    record = metadata_of(path)
    expected = expected_fields(load(name))
    compared = 0
    for field in FIELDS:
        actual = record["serial_number" if field == "body_serial" else field]
        if field == "taken_at" and isinstance(actual, str) and record["time_zone_offset"]:
            actual = actual.removesuffix(record["time_zone_offset"])
        if (name, field) in KNOWN_DISAGREEMENTS:
            assert not agrees(field, actual, expected[field]), f"{field} now agrees: update"
            continue
        if expected[field] is None:
            assert actual is None or field in ("orientation",), (field, actual)
            continue
        assert agrees(field, actual, expected[field]), (field, actual, expected[field])
        compared += 1
    assert compared >= 2


@pytest.mark.parametrize("name", sorted(set(FIXTURE_FILES) - {"sony_slt-a55v_truncated.arw"}))
def test_size_without_libraw_is_exiftools_image_size_as_displayed(name: str) -> None:
    """The truncated fixtures LibRaw refuses take their size from the EXIF structure."""
    record = metadata_of(RAW_FIXTURES / name)
    assert record["raw"]["raw_width"] is None
    reference = json.loads((EXIFTOOL / f"{name}.json").read_text())["numeric"]
    width, height = (int(v) for v in reference["Composite:ImageSize"].split())
    if reference["IFD0:Orientation"] >= 5:
        width, height = height, width
    assert (record["width"], record["height"]) == (width, height)


# --- shape of the record ------------------------------------------------------------------


@pytest.mark.parametrize("unpack", [True, False])
@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_record_has_every_key_and_is_plain_json(name: str, unpack: bool) -> None:
    record = metadata_of(RAW_FIXTURES / name, unpack=unpack)
    assert set(record) == RECORD_KEYS
    assert set(record["raw"]) == RAW_KEYS
    text = json.dumps(record)  # no default=: every value must already be JSON
    assert "\\u0000" not in text
    assert json.loads(text) == record
    assert record["exif"]["Exif.Image.Make"] == record["camera_make"]


def test_exif_map_keeps_maker_notes_and_drops_blobs() -> None:
    exif = metadata_of(RAW_FIXTURES / "nikon_d7100_truncated.nef")["exif"]
    assert exif["Exif.Photo.ExposureTime"] == "1/30 s"
    assert exif["Exif.Photo.ExposureProgram"] == "Aperture priority"
    assert exif["Exif.Nikon3.SerialNumber"] == "7302381"
    assert exif["Exif.Nikon3.ShutterCount"] == 205
    assert "Exif.Photo.MakerNote" not in exif  # the 120 KB undecoded blob
    for value in exif.values():
        assert len(json.dumps(value)) < 8 * 1024


def test_truncated_nef_keeps_its_maker_notes_and_gps_version_only_is_no_position() -> None:
    record = metadata_of(RAW_FIXTURES / "nikon_d7100_truncated.nef")
    assert record["serial_number"] == "7302381"
    assert "Exif.GPSInfo.GPSVersionID" in record["exif"]
    assert record["gps"] is None
    assert record["raw"]["format"] == "NEF"
    assert record["raw"]["black_level"] is None  # LibRaw cannot open the cut file


def test_unpack_false_leaves_out_only_the_decoded_sensor_facts() -> None:
    full = metadata_of(RAW_FIXTURES / "sony_slt-a55v_truncated.arw")
    quick = metadata_of(RAW_FIXTURES / "sony_slt-a55v_truncated.arw", unpack=False)
    assert full["raw"]["cfa_pattern"] == "RGGB"
    assert full["raw"]["black_level"] == [512, 512, 512, 512]
    assert quick["raw"]["cfa_pattern"] is None and quick["raw"]["white_level"] is None
    assert quick["raw"]["raw_width"] == full["raw"]["raw_width"] == 4928
    assert {k: v for k, v in quick.items() if k != "raw"} == {
        k: v for k, v in full.items() if k != "raw"
    }


@pytest.mark.parametrize("cut", [64, 300, 2000, 9000, 40000])
def test_files_cut_anywhere_still_give_a_full_record(cut: int) -> None:
    data = (RAW_FIXTURES / "nikon_d7100_truncated.nef").read_bytes()[:cut]
    with open_raw(io.BytesIO(data), name="cut.nef") as raw:
        record = extract_metadata(raw)
    assert set(record) == RECORD_KEYS
    json.dumps(record)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1 / 30, "1/30"), (1 / 4000, "1/4000"), (1 / 250, "1/250"), (0.25, "1/4"),
     (0.3, "0.3"), (2.5, "2.5"), (30.0, "30"), (1.0, "1")],
)  # fmt: skip
def test_exposure_time_display_matches_exiftool(seconds: float, text: str) -> None:
    assert format_exposure_time(seconds) == text


# --- CR3: metadata in ISO BMFF boxes, read by exiv2 -------------------------------------


def rational(num: int, den: int = 1) -> TiffImagePlugin.IFDRational:
    return TiffImagePlugin.IFDRational(num, den)


def tiff_stream(tags: dict[int, Any]) -> bytes:
    """A TIFF stream whose IFD0 holds ``tags`` (Pillow writes it; drop the Exif prefix)."""
    exif = Image.Exif()
    for tag, value in tags.items():
        exif[tag] = value
    return exif.tobytes()[6:]


CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def cr3_bytes(*cmt_boxes: bytes) -> bytes:
    """A CR3-shaped container: ftyp, moov holding Canon's uuid box, and an mdat."""
    version = box(b"CNCV", b"CanonCR3_001/00.09.00/00.00.00")
    canon = box(b"uuid", CANON_UUID + version + b"".join(cmt_boxes))
    moov = box(b"moov", box(b"mvhd", bytes(100)) + canon)
    return box(b"ftyp", b"crx \x00\x00\x00\x01crx isom") + moov + box(b"mdat", bytes(64))


CMT1 = box(
    b"CMT1",
    tiff_stream({0x010F: "Canon", 0x0110: "Canon EOS R5", 0x0112: 8, 0x0131: "Firmware 1.8.1"}),
)
CMT2 = box(
    b"CMT2",
    tiff_stream(
        {
            0x829A: rational(1, 250),
            0x829D: rational(28, 10),
            0x8827: 400,
            0x9003: "2023:05:06 07:08:09",
            0x9011: "+02:00",
            0x9291: "25",
            0x920A: rational(85),
            0xA434: "RF85mm F1.2 L USM",
        }
    ),
)
CMT4 = box(
    b"CMT4",
    tiff_stream(
        {
            1: "S",
            2: (rational(33), rational(51), rational(2133, 100)),
            3: "W",
            4: (rational(151), rational(12), rational(3600, 100)),
            5: 1,
            6: rational(125, 10),
        }
    ),
)


def test_cr3_metadata_comes_from_its_cmt_boxes() -> None:
    with open_raw(io.BytesIO(cr3_bytes(CMT1, CMT2, CMT4)), name="synthetic.cr3") as raw:
        assert raw.format == "CR3"
        record = extract_metadata(raw)
    assert record["camera_make"] == "Canon"
    assert record["camera_model"] == "Canon EOS R5"
    assert record["software"] == "Firmware 1.8.1"
    assert record["orientation"] == 8
    assert record["exposure_time"] == pytest.approx(0.004)
    assert record["exposure_time_display"] == "1/250"
    assert record["f_number"] == pytest.approx(2.8)
    assert record["iso"] == 400
    assert record["focal_length_mm"] == pytest.approx(85)
    assert record["lens_model"] == "RF85mm F1.2 L USM"
    assert record["taken_at"] == "2023-05-06T07:08:09.25+02:00"
    assert record["exif"]["Exif.Photo.ISOSpeedRatings"] == 400
    assert record["raw"]["format"] == "CR3"


def test_gps_south_west_and_below_sea_level_are_negative() -> None:
    with open_raw(io.BytesIO(cr3_bytes(CMT1, CMT2, CMT4)), name="synthetic.cr3") as raw:
        gps = extract_metadata(raw)["gps"]
    assert gps["latitude"] == pytest.approx(-(33 + 51 / 60 + 21.33 / 3600))
    assert gps["longitude"] == pytest.approx(-(151 + 12 / 60 + 36 / 3600))
    assert gps["altitude_m"] == pytest.approx(-12.5)


def test_cr3_without_metadata_boxes_gives_empty_fields() -> None:
    with open_raw(io.BytesIO(cr3_bytes()), name="bare.cr3") as raw:
        record = extract_metadata(raw)
    assert set(record) == RECORD_KEYS
    assert record["exif"] == {}
    assert record["camera_make"] is None and record["gps"] is None


# --- corpus: documented true values --------------------------------------------------------


@pytest.mark.samples
def test_portrait_dng_documented_values() -> None:
    record = metadata_of(sample("synthetic/dng_12mp_portrait_o6.dng"))
    assert (record["width"], record["height"]) == (3000, 4000)
    assert record["orientation"] == 6
    assert record["lens_model"] == "DT 18-200mm F3.5-6.3"
    # 34°0'25.39"N 36°12'18.44"E
    assert record["gps"]["latitude"] == pytest.approx(34 + 0 / 60 + 25.39 / 3600, abs=1e-5)
    assert record["gps"]["longitude"] == pytest.approx(36 + 12 / 60 + 18.44 / 3600, abs=1e-5)
    raw = record["raw"]
    assert (raw["raw_width"], raw["raw_height"]) == (4000, 3000)
    assert raw["cfa_pattern"] == "RGGB"
    assert raw["black_level"] == [600, 600, 600, 600]
    assert raw["white_level"] == 15520


@pytest.mark.samples
def test_synthetic_nef_documented_values() -> None:
    record = metadata_of(sample("synthetic/nef_24mp_nikon-d7100_uncompressed.nef"))
    assert (record["width"], record["height"]) == (6036, 4020)
    assert record["raw"]["white_level"] == 16383
    assert record["raw"]["black_level"] == [0, 0, 0, 0]
    assert record["raw"]["camera_wb"][:3] == pytest.approx([2.387, 1.0, 1.598], abs=1e-3)


@pytest.mark.samples
@pytest.mark.parametrize(
    "relpath", ["synthetic/dng_12mp_portrait_o6.dng", "real-full/canon_eos-30d.cr2"]
)
def test_size_is_the_postprocess_output_shape(relpath: str) -> None:
    path = sample(relpath)
    with open_raw(path) as raw:
        record = extract_metadata(raw)
        assert raw.libraw is not None
        rgb = raw.libraw.postprocess()
    assert (record["width"], record["height"]) == (rgb.shape[1], rgb.shape[0])


@pytest.mark.samples
def test_crw_is_read_from_its_ciff_records() -> None:
    record = metadata_of(sample("raw/canon_eos-d30.crw"))
    assert record["camera_model"] == "Canon EOS D30"
    assert record["exif"]["Exif.Canon.OwnerName"] == "Peter Wemmert/Kameratrollet"
    assert record["iso"] == 100
    assert record["focal_length_mm"] == pytest.approx(31)
    assert record["taken_at"] == "2018-01-01T13:03:32"
    assert (record["width"], record["height"]) == (2176, 1448)
    assert record["raw"]["cfa_pattern"] == "RGGB"
