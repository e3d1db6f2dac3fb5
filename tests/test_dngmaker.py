"""The synthetic DNG generator: LibRaw, exifread and exiftool must see what it claims to write.

Engine tests rely on these files having known content, so the round trip is checked against
independent readers rather than against the generator itself.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import exifread
import numpy as np
import pytest
import rawpy
from PIL import Image

from tests.fixtures.dngmaker import (
    CHART_PATCHES,
    ExifValue,
    PreviewMode,
    main,
    make_bomb_dng,
    make_chart,
    make_dng,
    sensor_size_for_megapixels,
    to_sensor,
)

# LibRaw rendering that inverts the generator exactly: sRGB curve, no auto-brightness.
SRGB: dict[str, Any] = {
    "use_camera_wb": True,
    "gamma": (2.4, 12.92),
    "no_auto_bright": True,
    "output_bps": 8,
}


def render(path: Path, **options: Any) -> np.ndarray:
    with rawpy.imread(str(path)) as raw:
        return raw.postprocess(**{**SRGB, **options})


def patch_means(image: np.ndarray) -> dict[str, np.ndarray]:
    """Mean colour of the middle of each chart patch, located in the displayed image."""
    height, width = image.shape[:2]
    return {
        name: image[patch.slices(height, width, inset=0.2)].reshape(-1, 3).mean(axis=0)
        for name, patch in CHART_PATCHES.items()
    }


def assert_chart(image: np.ndarray, tolerance: float) -> None:
    for name, mean in patch_means(image).items():
        error = np.abs(mean - CHART_PATCHES[name].rgb).max()
        assert error < tolerance, f"{name} patch is {mean.round(1)}, not {CHART_PATCHES[name].rgb}"


def exif_tags(path: Path) -> dict[str, Any]:
    with path.open("rb") as stream:
        return exifread.process_file(stream, details=True)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_rendering_is_upright_with_true_colours(tmp_path: Path, orientation: int) -> None:
    path = make_dng(tmp_path / "o.dng", orientation=orientation)

    with rawpy.imread(str(path)) as raw:
        assert (raw.sizes.raw_width, raw.sizes.raw_height) == (600, 400)
        assert raw.raw_pattern is not None
        assert raw.raw_pattern.tolist() == [[0, 1], [3, 2]]  # RGGB
    image = render(path)
    assert image.shape[:2] == ((600, 400) if orientation >= 5 else (400, 600))
    assert_chart(image, tolerance=2)


def test_red_block_is_top_left_in_default_rendering(tmp_path: Path) -> None:
    image = render(make_dng(tmp_path / "o6.dng", orientation=6), gamma=None, no_auto_bright=False)

    height, width = image.shape[:2]
    corner = image[: height // 8, : width // 8].reshape(-1, 3).mean(axis=0)
    assert corner[0] > 150 > 60 > max(corner[1:])
    means = patch_means(image)
    assert means["white"].min() > 250, "the white patch should pin auto-brightness"
    assert np.ptp(means["grey"]) < 2


@pytest.mark.parametrize("wb", [(2.0, 1.0, 1.5), (1.4, 1.0, 2.6), (0.9, 1.0, 1.2)])
def test_camera_white_balance_round_trips(tmp_path: Path, wb: tuple[float, float, float]) -> None:
    path = make_dng(tmp_path / "wb.dng", wb=wb)

    with rawpy.imread(str(path)) as raw:
        r, g, b, _ = raw.camera_whitebalance
    assert (r / g, b / g) == pytest.approx((wb[0] / wb[1], wb[2] / wb[1]), rel=1e-4)
    grey = patch_means(render(path))["grey"]
    assert np.ptp(grey) < 2
    assert grey.mean() == pytest.approx(118, abs=2)


@pytest.mark.parametrize(("bits", "black", "white"), [(12, 256, 4000), (16, 2048, 60000)])
def test_other_bit_depths_round_trip(tmp_path: Path, bits: int, black: int, white: int) -> None:
    path = make_dng(tmp_path / "bits.dng", bits=bits, black=black, white=white)

    with rawpy.imread(str(path)) as raw:
        assert raw.white_level == white
        assert raw.black_level_per_channel == [black] * 4
        assert raw.raw_image.max() == white  # the white patch saturates
    assert_chart(render(path), tolerance=2)


def test_custom_scene_sets_the_sensor_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    scene = np.repeat(np.repeat(rng.integers(20, 235, (6, 4, 3), np.uint8), 50, 0), 50, 1)

    path = make_dng(tmp_path / "scene.dng", scene=scene, orientation=8)

    with rawpy.imread(str(path)) as raw:
        assert (raw.sizes.raw_width, raw.sizes.raw_height) == (300, 200)
    image = render(path)
    assert image.shape == scene.shape
    blocks = image.reshape(6, 50, 4, 50, 3)[:, 10:40, :, 10:40].mean(axis=(1, 3))
    assert np.abs(blocks - scene[::50, ::50]).max() < 2


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
@pytest.mark.parametrize("mode", ["sensor", "rotated"])
def test_preview_is_stored_as_requested(
    tmp_path: Path, orientation: int, mode: PreviewMode
) -> None:
    path = make_dng(tmp_path / "p.dng", orientation=orientation, preview=mode, preview_size=480)

    with rawpy.imread(str(path)) as raw:
        thumb = raw.extract_thumb()
    assert thumb.format == rawpy.ThumbFormat.JPEG
    assert isinstance(thumb.data, bytes)  # a JPEG thumbnail comes as its file bytes
    preview = np.asarray(Image.open(io.BytesIO(thumb.data)).convert("RGB"))
    upright = make_chart(*((320, 480) if orientation >= 5 else (480, 320)))
    expected = upright if mode == "rotated" else to_sensor(upright, orientation)
    assert preview.shape == expected.shape
    assert np.abs(preview.astype(int) - expected).mean() < 3


def test_preview_may_exceed_the_sensor(tmp_path: Path) -> None:
    path = make_dng(tmp_path / "big.dng", preview_size=2048)

    with rawpy.imread(str(path)) as raw:
        thumb = raw.extract_thumb()
    assert isinstance(thumb.data, bytes)  # a JPEG thumbnail comes as its file bytes
    assert Image.open(io.BytesIO(thumb.data)).size == (2048, 1365)


def test_no_preview_means_no_embedded_image(tmp_path: Path) -> None:
    path = make_dng(tmp_path / "none.dng", preview="none", orientation=3)

    with rawpy.imread(str(path)) as raw, pytest.raises(rawpy.LibRawNoThumbnailError):
        raw.extract_thumb()
    assert_chart(render(path), tolerance=2)


def test_exifread_reads_camera_fields_and_gps(tmp_path: Path) -> None:
    path = make_dng(tmp_path / "gps.dng", orientation=6, gps=(-33.856784, 151.215297, 12.5))

    tags = exif_tags(path)
    assert str(tags["Image Make"]) == "NIKON CORPORATION"
    assert str(tags["Image Model"]) == "NIKON D7100"
    assert str(tags["Image Orientation"]) == "Rotated 90 CW"
    assert tags["EXIF ISOSpeedRatings"].values == [200]
    assert tags["EXIF ExposureTime"].values == [Fraction(1, 250)]
    assert tags["EXIF FNumber"].values == [8]
    assert tags["EXIF FocalLength"].values == [35]
    assert str(tags["EXIF DateTimeOriginal"]) == "2023:06:14 18:42:07"
    assert str(tags["EXIF OffsetTimeOriginal"]) == "+02:00"
    assert str(tags["EXIF LensModel"]) == "AF-S DX Nikkor 18-105mm f/3.5-5.6G ED VR"
    assert str(tags["GPS GPSLatitudeRef"]) == "S"
    assert str(tags["GPS GPSLongitudeRef"]) == "E"
    lat = sum(float(v) / 60**i for i, v in enumerate(tags["GPS GPSLatitude"].values))
    lon = sum(float(v) / 60**i for i, v in enumerate(tags["GPS GPSLongitude"].values))
    assert (lat, lon) == pytest.approx((33.856784, 151.215297), abs=1e-5)
    assert float(tags["GPS GPSAltitude"].values[0]) == 12.5
    assert [int(v) for v in tags["GPS GPSTimeStamp"].values] == [16, 42, 7]  # UTC


def test_exif_overrides_and_removals(tmp_path: Path) -> None:
    overrides: dict[str, ExifValue] = {
        "Make": "Canon",
        "Model": "Canon EOS R5",
        "ISO": 3200,
        "ExposureTime": "1/8000",
        "FNumber": 1.4,
        "LensModel": None,
        "OffsetTimeOriginal": "-07:00",
    }
    path = make_dng(tmp_path / "canon.dng", exif=overrides)

    tags = exif_tags(path)
    assert str(tags["Image Model"]) == "Canon EOS R5"
    assert tags["EXIF ISOSpeedRatings"].values == [3200]
    assert tags["EXIF ExposureTime"].values == [Fraction(1, 8000)]
    assert tags["EXIF FNumber"].values == [Fraction(7, 5)]
    assert str(tags["EXIF OffsetTime"]) == "-07:00"  # follows OffsetTimeOriginal
    assert "EXIF LensModel" not in tags
    assert "GPS GPSLatitude" not in tags
    assert_chart(render(path), tolerance=2)  # DNG colour tags win over LibRaw's own tables


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
def test_exiftool_validates_and_sees_the_tags(tmp_path: Path) -> None:
    path = make_dng(tmp_path / "x.dng", orientation=8, gps=(48.8584, 2.2945, 35.0))

    def exiftool(*args: str) -> str:
        return subprocess.run(
            ["exiftool", *args, str(path)], check=True, capture_output=True, text=True
        ).stdout

    assert exiftool("-validate", "-warning", "-a").split(":", 1)[1].strip() == "OK"
    listing = {}
    for line in exiftool("-a", "-G1", "-s").splitlines():
        key, _, value = line.partition(": ")
        listing[" ".join(key.split())] = value
    assert listing["[IFD0] Orientation"] == "Rotate 270 CW"
    assert listing["[IFD0] DNGVersion"] == "1.4.0.0"
    assert listing["[ExifIFD] ISO"] == "200"
    assert listing["[ExifIFD] OffsetTimeOriginal"] == "+02:00"
    assert listing["[ExifIFD] LensModel"] == "AF-S DX Nikkor 18-105mm f/3.5-5.6G ED VR"
    assert listing["[GPS] GPSLatitude"] == "48 deg 51' 30.24\""
    assert listing["[SubIFD1] PreviewColorSpace"] == "sRGB"


@pytest.mark.parametrize("preview", ["sensor", "none"])
def test_ifd0_heads_the_file_as_in_camera_files(tmp_path: Path, preview: PreviewMode) -> None:
    head = make_dng(tmp_path / "head.dng", preview=preview).read_bytes()[:4096]

    assert head[:8] == b"II*\0\x08\0\0\0"  # format sniffers only read the head
    assert b"NIKON D7100\0" in head


def test_generation_is_deterministic_per_seed(tmp_path: Path) -> None:
    first = make_dng(tmp_path / "a.dng", seed=7).read_bytes()

    assert make_dng(tmp_path / "b.dng", seed=7).read_bytes() == first
    assert make_dng(tmp_path / "c.dng", seed=8).read_bytes() != first


def test_bomb_is_tiny_but_claims_a_huge_sensor(tmp_path: Path) -> None:
    path = make_bomb_dng(tmp_path / "bomb.dng")

    assert path.stat().st_size < 16_384
    with rawpy.imread(str(path)) as raw:
        assert (raw.sizes.raw_width, raw.sizes.raw_height) == (64_000, 64_000)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"orientation": 9}, "orientation"),
        ({"wb": (2.0, 0.0, 1.5)}, "wb"),
        ({"preview": "sideways"}, "preview"),
        ({"preview_size": 0}, "preview_size"),
        ({"width": 0}, "sensor size"),
        ({"bits": 14, "white": 20000}, "white"),
        ({"exif": {"Shutter": "1/100"}}, "unsupported EXIF"),
        ({"exif": {"ISO": "fast"}}, "ISO"),
        ({"gps": (91.0, 0.0, 0.0)}, "GPS"),
        (
            {"scene": np.zeros((40, 60, 3), np.uint8), "width": 60, "height": 40, "orientation": 6},
            "disagree",
        ),
        ({"scene": np.zeros((40, 60), np.uint8)}, "HxWx3"),
    ],
)
def test_bad_arguments_are_rejected(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_dng(tmp_path / "bad.dng", **kwargs)


def test_megapixel_sizes_are_3_to_2() -> None:
    assert sensor_size_for_megapixels(24) == (6000, 4000)
    width, height = sensor_size_for_megapixels(45)
    assert width % 16 == height % 16 == 0
    assert width * height == pytest.approx(45e6, rel=0.01)


def test_command_line_writes_a_portrait_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli.dng"

    assert main([str(out), "--size", "320x240", "--orientation", "6", "--preview", "none"]) == 0

    assert capsys.readouterr().out.strip() == str(out)
    assert render(out).shape == (320, 240, 3)


def test_command_line_rejects_a_bad_size(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "x.dng"), "--size", "big"])
    assert exit_info.value.code == 2
