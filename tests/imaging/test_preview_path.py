"""The embedded-preview path: header-only discovery, DCT-scaled decoding, resizing."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from rawproc.imaging import engine, process_raw
from rawproc.imaging.orientation import apply_orientation, apply_orientation_pixels, as_image
from rawproc.imaging.preview import (
    EmbeddedPreview,
    dct_scale,
    dct_scaled_size,
    decode_preview_pixels,
    decode_preview_small,
    find_preview,
    jpeg_header,
)
from rawproc.imaging.rawfile import open_raw
from rawproc.imaging.specs import RenditionSpec
from tests.fixtures.dngmaker import make_dng
from tests.samples import FIXTURES

edges = st.integers(min_value=1, max_value=20_000)


@given(width=edges, height=edges, target=st.integers(min_value=1, max_value=20_000))
def test_dct_scale_is_the_smallest_that_keeps_the_target(
    width: int, height: int, target: int
) -> None:
    n = dct_scale(width, height, target)
    assert 1 <= n <= 8
    long_edge = max(dct_scaled_size(width, height, n))
    if target <= max(width, height):
        assert long_edge >= target
    else:
        assert n == 8  # never upscaled: the whole image
    if n > 1:
        assert max(dct_scaled_size(width, height, n - 1)) < target


def _jpeg(width: int, height: int, **save: object) -> bytes:
    rng = np.random.default_rng(width * 7919 + height)
    small = rng.integers(0, 256, (max(1, height // 16), max(1, width // 16), 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, **save)
    return out.getvalue()


@settings(max_examples=25, deadline=None)
@given(
    width=st.integers(min_value=64, max_value=1500),
    height=st.integers(min_value=64, max_value=1500),
    share=st.floats(min_value=0.01, max_value=1.0),
    progressive=st.booleans(),
)
def test_previews_decode_at_the_chosen_dct_scale(
    width: int, height: int, share: float, progressive: bool
) -> None:
    data = _jpeg(width, height, progressive=progressive)
    header = jpeg_header(data)
    assert header is not None and (header.width, header.height) == (width, height)
    target = max(1, round(max(width, height) * share))
    pixels = decode_preview_pixels(EmbeddedPreview(data, width, height), target)
    n = dct_scale(width, height, target)
    assert pixels.shape == (*dct_scaled_size(width, height, n)[::-1], 3)
    assert max(pixels.shape[:2]) >= target


def test_the_check_decodes_at_an_eighth(tmp_path: Path) -> None:
    data = _jpeg(1600, 1000)
    image = decode_preview_small(EmbeddedPreview(data, 1600, 1000), 64)
    assert image.size == (200, 125)


def test_greyscale_and_cmyk_previews_decode_to_rgb() -> None:
    grey = io.BytesIO()
    Image.new("L", (200, 100), 90).save(grey, "JPEG")
    cmyk = io.BytesIO()
    Image.new("CMYK", (200, 100), (0, 0, 0, 0)).save(cmyk, "JPEG")
    for data in (grey.getvalue(), cmyk.getvalue()):
        pixels = decode_preview_pixels(EmbeddedPreview(data, 200, 100), 100)
        assert pixels.ndim == 3 and pixels.shape[2] == 3 and pixels.shape[1] >= 100


def test_a_lossless_jpeg_is_not_a_preview() -> None:
    # SOI, then a lossless (SOF3) frame header as RAW sensor data is stored.
    lossless = b"\xff\xd8\xff\xc3\x00\x0b\x0e\x0f\xa0\x17\x70\x01\x01\x11\x00"
    assert jpeg_header(lossless) is None


@pytest.mark.parametrize("path", sorted((FIXTURES / "raw").iterdir()), ids=lambda p: p.name)
def test_headers_find_the_preview_the_whole_file_search_finds(path: Path) -> None:
    """Header-only discovery agrees with reading every byte of the file for JPEG markers."""
    with open_raw(path) as raw:
        listed = find_preview(raw, 250_000_000, 1 << 30)
        searched = find_preview(raw, 250_000_000, 1 << 30, thorough=True)
    assert searched is not None
    assert listed is not None and (listed.width, listed.height) == (searched.width, searched.height)


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int | None]]:
    """Record every preview decode (which kind, at what target) while still decoding."""
    calls: list[tuple[str, int | None]] = []

    def pixels(preview: EmbeddedPreview, target: int | None) -> np.ndarray:
        calls.append(("rendition", target))
        return decode_preview_pixels(preview, target)

    def small(preview: EmbeddedPreview, target: int) -> Image.Image:
        calls.append(("check", target))
        return decode_preview_small(preview, target)

    monkeypatch.setattr(engine, "decode_preview_pixels", pixels)
    monkeypatch.setattr(engine, "decode_preview_small", small)
    return calls


def test_a_preview_too_small_is_decoded_only_tiny_for_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_decodes(monkeypatch)
    path = make_dng(tmp_path / "a.dng", width=900, height=600, preview_size=300)
    result = process_raw(path, (RenditionSpec("large", 400), RenditionSpec("small", 100)))
    assert {r.source for r in result.renditions} == {"half_size"}
    assert calls == [("check", engine._REFERENCE_EDGE)]  # the plausibility reference


def test_no_preview_is_decoded_without_a_rendition_or_check_using_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_decodes(monkeypatch)
    path = make_dng(tmp_path / "b.dng", width=900, height=600, preview_size=300)
    result = process_raw(path, ())
    assert result.renditions == [] and calls == []


def test_a_serving_preview_is_decoded_once_for_the_largest_rendition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_decodes(monkeypatch)
    path = make_dng(tmp_path / "c.dng", width=900, height=600, preview_size=600)
    specs = (RenditionSpec("a", 250), RenditionSpec("b", 120), RenditionSpec("c", 60))
    result = process_raw(path, specs)
    assert {r.source for r in result.renditions} == {"embedded_preview"}
    assert calls == [("rendition", 250)]
    assert [max(r.width, r.height) for r in result.renditions] == [250, 120, 60]


@given(
    orientation=st.integers(min_value=1, max_value=8),
    height=st.integers(min_value=1, max_value=40),
    width=st.integers(min_value=1, max_value=40),
)
def test_orienting_an_array_matches_orienting_the_image(
    orientation: int, height: int, width: int
) -> None:
    rng = np.random.default_rng(height * 41 + width)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    expected = np.asarray(apply_orientation(Image.fromarray(pixels), orientation))
    assert np.array_equal(apply_orientation_pixels(pixels, orientation), expected)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


@pytest.mark.parametrize("ratio", [1.02, 1.1, 1.25, 1.3, 1.46, 2.0, 2.93, 3.9, 4.0, 6.4, 9.0])
@pytest.mark.parametrize("as_array", [False, True])
def test_every_ratio_stays_close_to_lanczos(ratio: float, as_array: bool) -> None:
    rng = np.random.default_rng(3)
    coarse = rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)
    source = Image.fromarray(coarse).resize((1500, 1000), Image.Resampling.BICUBIC)
    target = round(1500 / ratio)
    picture = np.asarray(source) if as_array else source
    result = as_image(engine._fit(picture, target))
    assert max(result.size) == target
    reference = source.resize(result.size, Image.Resampling.LANCZOS)
    # Detail at a sixteenth of the source size: at 9x it sits near the new Nyquist limit.
    assert _psnr(np.asarray(result), np.asarray(reference)) > 35
