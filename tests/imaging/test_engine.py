"""The engine end to end on synthetic DNGs with known content and on real camera files."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from rawproc.imaging import (
    CorruptFile,
    EngineOptions,
    ImageTooLarge,
    RenditionSpec,
    UnsupportedFormat,
    process_raw,
    read_metadata,
)
from rawproc.imaging.encode import srgb_icc
from rawproc.imaging.specs import Format
from tests.fixtures.dngmaker import make_bomb_dng, make_dng
from tests.samples import FIXTURES

W, H = 600, 400
RED, BLUE, GREEN, GREY = (200, 30, 30), (30, 40, 200), (40, 180, 50), (128, 128, 128)


def chart() -> np.ndarray:
    """An asymmetric upright scene: red top-left, blue top-right, green bottom, grey rest."""
    scene = np.empty((H, W, 3), np.uint8)
    scene[:] = GREY
    scene[20:140, 20:180] = RED
    scene[20:140, W - 180 : W - 20] = BLUE
    scene[H - 90 : H - 20, 60 : W - 60] = GREEN
    return scene


def decode(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def region_mean(image: Image.Image, fx: float, fy: float) -> np.ndarray:
    """Mean colour around a point given as fractions of the width and height."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    h, w = rgb.shape[:2]
    x, y = int(fx * w), int(fy * h)
    r = max(2, min(w, h) // 40)
    return np.asarray(rgb[y - r : y + r, x - r : x + r].reshape(-1, 3).mean(axis=0))


def assert_upright(image: Image.Image) -> None:
    red = region_mean(image, 100 / W, 80 / H)
    blue = region_mean(image, (W - 100) / W, 80 / H)
    green = region_mean(image, 0.5, (H - 55) / H)
    assert red[0] > red[1] + 60 and red[0] > red[2] + 60, f"top-left is not red: {red}"
    assert blue[2] > blue[0] + 60 and blue[2] > blue[1] + 60, f"top-right is not blue: {blue}"
    assert green[1] > green[0] + 40 and green[1] > green[2] + 40, f"bottom is not green: {green}"


# Builds a DNG of the chart in the test's folder; keyword arguments go to ``make_dng``.
DngBuilder = Callable[..., Path]


@pytest.fixture
def dng(tmp_path: Path) -> DngBuilder:
    def build(**kwargs: Any) -> Path:
        path = tmp_path / f"test-{len(list(tmp_path.iterdir()))}.dng"
        return make_dng(path, scene=chart(), **kwargs)

    return build


SOURCE_PREVIEW = "embedded_preview"
SOURCES: dict[str, tuple[dict[str, Any], dict[str, int], str]] = {
    "sensor-stored preview": ({"preview": "sensor", "preview_size": 600}, {}, "embedded_preview"),
    "already rotated preview": (
        {"preview": "rotated", "preview_size": 600},
        {},
        "embedded_preview",
    ),
    "half-size sensor": ({"preview": "none"}, {"size": 200}, "half_size"),
    "full demosaic": ({"preview": "none"}, {"size": 500}, "full_demosaic"),
}


# A preview some converter already turned by 180 degrees looks exactly like one stored as the
# sensor sees it (cameras do the latter), so that one combination has no right answer.
CASES = [
    (source, orientation)
    for source in SOURCES
    for orientation in (1, 3, 6, 8)
    if not (source == "already rotated preview" and orientation == 3)
]


@pytest.mark.parametrize(("source", "orientation"), CASES)
def test_orientation_applied_exactly_once(dng: DngBuilder, orientation: int, source: str) -> None:
    dng_kwargs, spec_kwargs, expected_source = SOURCES[source]
    path = dng(orientation=orientation, **dng_kwargs)
    spec = RenditionSpec("view", spec_kwargs.get("size", 300))
    result = process_raw(path, [spec])
    (rendition,) = result.renditions
    assert rendition.source == expected_source
    image = decode(rendition.data)
    assert image.size == (rendition.width, rendition.height)
    assert image.width > image.height, "the displayed scene is landscape"
    assert_upright(image)
    assert result.metadata["orientation"] == orientation
    assert (result.metadata["width"], result.metadata["height"]) == (W, H)


def test_sources_are_chosen_by_size_and_decoded_once(dng: DngBuilder) -> None:
    path = dng(preview="sensor", preview_size=300)
    small = [RenditionSpec("small", 250), RenditionSpec("medium", 299)]
    full = RenditionSpec("full", None)
    result = process_raw(path, [*small, full])
    assert [r.source for r in result.renditions] == [
        "embedded_preview",
        "embedded_preview",
        "full_demosaic",
    ]
    # One sized rendition beyond the preview: every sized one comes from the same decode.
    result = process_raw(path, [*small, RenditionSpec("large", 500), full])
    assert {r.source for r in result.renditions} == {"full_demosaic"}
    assert "decode_full" in result.timings_ms
    assert "decode_half" not in result.timings_ms
    assert "decode_preview" not in result.timings_ms


def test_half_size_serves_renditions_up_to_half_the_sensor(dng: DngBuilder) -> None:
    result = process_raw(dng(preview="none"), [RenditionSpec("a", 300), RenditionSpec("b", 120)])
    assert [r.source for r in result.renditions] == ["half_size", "half_size"]
    assert [(r.width, r.height) for r in result.renditions] == [(300, 200), (120, 80)]
    assert "decode_full" not in result.timings_ms


def test_force_sensor_never_uses_the_preview(dng: DngBuilder) -> None:
    path = dng(preview="sensor", preview_size=600)
    result = process_raw(path, [RenditionSpec("t", 100)], EngineOptions(force_sensor=True))
    assert result.renditions[0].source == "half_size"


def test_never_upscales(dng: DngBuilder) -> None:
    result = process_raw(
        dng(preview="none"), [RenditionSpec("huge", 5000), RenditionSpec("full", None)]
    )
    assert [(r.width, r.height) for r in result.renditions] == [(W, H), (W, H)]


def test_sensor_colours_follow_camera_white_balance(dng: DngBuilder) -> None:
    result = process_raw(dng(preview="none", wb=(2.2, 1.0, 1.4)), [RenditionSpec("full", None)])
    image = decode(result.renditions[0].data)
    grey = region_mean(image, 0.5, 0.5)
    assert max(grey) - min(grey) < 16, f"a grey patch came out tinted: {grey}"
    assert_upright(image)


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "avif"])
def test_formats_carry_the_srgb_profile(dng: DngBuilder, fmt: Format) -> None:
    result = process_raw(dng(preview="none"), [RenditionSpec("t", 200, fmt)])
    image = decode(result.renditions[0].data)
    assert image.format == {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF"}[fmt]
    assert image.info.get("icc_profile") == srgb_icc()
    assert image.size == (200, 133)


def test_exif_copy_strips_gps_by_default(dng: DngBuilder) -> None:
    path = dng(preview="none", orientation=6, gps=(48.8584, 2.2945, 35.0))
    spec = [RenditionSpec("t", 200)]
    stripped = decode(process_raw(path, spec, EngineOptions(copy_exif=True)).renditions[0].data)
    exif = stripped.getexif()
    assert exif.get(0x0112) == 1, "pixels are upright, so orientation must say so"
    assert exif.get(0x0110), "camera model copied"
    assert 0x8825 not in exif
    kept = decode(
        process_raw(path, spec, EngineOptions(copy_exif=True, strip_gps=False)).renditions[0].data
    )
    gps = kept.getexif().get_ifd(0x8825)
    assert gps[1] == "N" and abs(float(gps[2][0]) - 48) < 1e-6
    plain = decode(process_raw(path, spec).renditions[0].data)
    assert 0x0110 not in plain.getexif()


def test_file_object_gives_the_same_result_as_a_path(dng: DngBuilder) -> None:
    path = dng(preview="none")
    spec = [RenditionSpec("t", 200)]
    with open(path, "rb") as fh:
        from_stream = process_raw(fh, spec)
    from_path = process_raw(path, spec)
    assert from_stream.name == from_path.name == path.name
    assert from_stream.metadata == from_path.metadata
    assert from_stream.renditions[0].data == from_path.renditions[0].data


def test_pixel_limit_rejects_decompression_bombs(tmp_path: Path, dng: DngBuilder) -> None:
    with pytest.raises(ImageTooLarge) as info:
        process_raw(make_bomb_dng(tmp_path / "bomb.dng"))
    assert "bomb.dng" in str(info.value)
    with pytest.raises(ImageTooLarge):
        process_raw(dng(preview="none"), options=EngineOptions(max_pixels=100_000))


def test_truncated_sensor_data_falls_back_to_the_embedded_preview() -> None:
    path = FIXTURES / "raw" / "nikon_d7100_truncated.nef"
    result = process_raw(path, [RenditionSpec("thumbnail", 320), RenditionSpec("full", None)])
    assert result.degraded
    assert [r.source for r in result.renditions] == ["embedded_preview", "embedded_preview"]
    assert [(r.width, r.height) for r in result.renditions] == [(320, 213), (6000, 4000)]
    assert (result.metadata["width"], result.metadata["height"]) == (6000, 4000)
    assert result.metadata["camera_model"] == "NIKON D7100"
    assert result.warnings


def test_cut_dng_without_preview_is_a_corrupt_file(tmp_path: Path, dng: DngBuilder) -> None:
    data = dng(preview="none").read_bytes()
    cut = tmp_path / "cut.dng"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFile) as info:
        process_raw(cut)
    assert "cut.dng" in str(info.value)
    assert info.value.code == "corrupt_file"


def test_jpeg_renamed_to_raw_is_unsupported(tmp_path: Path) -> None:
    fake = tmp_path / "IMG_0001.CR2"
    Image.new("RGB", (64, 64), "red").save(fake, "JPEG")
    with pytest.raises(UnsupportedFormat) as info:
        process_raw(fake)
    assert "IMG_0001.CR2" in str(info.value)


def test_read_metadata_does_not_render(dng: DngBuilder) -> None:
    record = read_metadata(dng(preview="none", orientation=8))
    assert record["orientation"] == 8
    assert (record["width"], record["height"]) == (W, H)


@pytest.mark.parametrize("resample", [Image.Resampling.BICUBIC, Image.Resampling.BOX])
def test_resizing_in_bands_gives_the_whole_image_resize(resample: Image.Resampling) -> None:
    """Pillow images (sensor renders) are resized band by band at scales under 4x."""
    from rawproc.imaging.engine import _resize_in_bands

    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (300, 450, 3), dtype=np.uint8))
    source = noise.resize((1800, 1200), Image.Resampling.BICUBIC)
    for long_edge in (1000, 640, 1799):
        size = (long_edge, round(1200 * long_edge / 1800))
        banded = np.asarray(_resize_in_bands(source, size, resample), dtype=np.int16)
        whole = np.asarray(source.resize(size, resample), dtype=np.int16)
        # Pillow takes a box as 32-bit floats: the filter taps move by a few millionths of
        # a pixel, which rounds some values the other way. No seams, no shift.
        difference = np.abs(banded - whole)
        assert difference.mean() < 0.3 and difference.max() <= 4
