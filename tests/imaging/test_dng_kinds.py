"""The DNG kinds the engine reads itself (LinearRaw, JPEG XL, floating point): neutral
grey stays neutral, the scene and its orientation come back, JPEG XL is lossless, and a
damaged file gives an ImagingError or a degraded render, never another exception."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from rawproc.imaging import BUILTIN, EngineOptions, ImagingError, process_raw
from rawproc.imaging.dng_decode import read_samples
from rawproc.imaging.rawfile import open_raw
from tests.fixtures.colour_metrics import chroma_of_8bit
from tests.fixtures.dngmaker import CHART_PATCHES, DNG_KINDS, make_chart, make_kind_dng


def _render(path: Path) -> np.ndarray[Any, np.dtype[np.float64]]:
    result = process_raw(path, (BUILTIN["full"],), EngineOptions(force_sensor=True))
    assert not result.degraded
    data = result.renditions[0].data
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)


@pytest.mark.parametrize("kind", sorted(DNG_KINDS))
@pytest.mark.parametrize("orientation", [1, 6])
def test_kind_renders_the_scene(tmp_path: Path, kind: str, orientation: int) -> None:
    made = make_kind_dng(tmp_path / "k.dng", orientation=orientation, **DNG_KINDS[kind])
    with open_raw(made.path) as raw:
        assert raw.dng is not None  # read by the engine, not LibRaw
    image = _render(made.path)
    height, width = image.shape[:2]
    assert (width < height) == (orientation == 6)
    chart = make_chart(width, height).astype(np.float64)
    assert np.abs(image - chart).mean() < 3
    grey = image[CHART_PATCHES["grey"].slices(height, width, 0.2)].reshape(-1, 3).mean(axis=0)
    # 8-bit gamma-coded samples quantise each channel by up to a level: chroma ~2.
    assert chroma_of_8bit(grey) < 3.0


@pytest.mark.parametrize("interleave", [False, True])
def test_jxl_mosaic_is_bit_exact(tmp_path: Path, interleave: bool) -> None:
    made = make_kind_dng(
        tmp_path / "j.dng", layout="bayer", compression="jxl", tile=96, interleave=interleave
    )
    with open_raw(made.path) as raw:
        assert raw.dng is not None
        samples = read_samples(raw.content_bytes(), raw.dng.image, raw.name)
    assert np.array_equal(samples, made.stored)


@pytest.mark.parametrize("kind", ["linear-uint8", "bayer-jxl-interleaved", "linear-jxl-tiled"])
@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9])
def test_truncated_kind_is_an_imaging_error_or_degraded(
    tmp_path: Path, kind: str, cut: float
) -> None:
    data = make_kind_dng(tmp_path / "t.dng", **DNG_KINDS[kind]).path.read_bytes()
    short = data[: int(len(data) * cut)]
    try:
        result = process_raw(io.BytesIO(short), (BUILTIN["thumbnail"],), name="t.dng")
    except ImagingError:
        return
    assert result.degraded and result.warnings


def test_skipped_opcodes_are_a_warning(tmp_path: Path) -> None:
    made = make_kind_dng(tmp_path / "o.dng", opcodes=True)
    result = process_raw(made.path, (BUILTIN["thumbnail"],), EngineOptions(force_sensor=True))
    assert [w.code for w in result.warnings] == ["dng_opcodes_skipped"]
