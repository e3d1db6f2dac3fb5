"""Sensor data cut off by a truncated file, which LibRaw decodes without reporting an error.

A compressed RAW cut short still opens and renders: LibRaw repeats the last row it read
(vertical streaks) or leaves zeros. The engine must see it and fall back to the embedded
preview instead of presenting the garbage as a good rendition.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest

from rawproc.imaging import process_raw
from rawproc.imaging.engine import _sensor_data_problem
from rawproc.imaging.errors import SENSOR_DATA_CUT_OFF, SENSOR_DATA_MISSING
from tests.samples import sample


def fake_libraw(raw: np.ndarray, black: int = 512) -> SimpleNamespace:
    return SimpleNamespace(raw_image_visible=raw, black_level_per_channel=[black] * 4)


def noise(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(500, 4000, (rows, cols), dtype=np.uint16)


def code(raw: np.ndarray, black: int = 512) -> str | None:
    problem = _sensor_data_problem(fake_libraw(raw, black))
    return None if problem is None else problem[0]


def test_repeated_last_rows_mean_cut_off() -> None:
    raw = noise(64, 48)
    raw[40:] = raw[39]
    assert code(raw) == SENSOR_DATA_CUT_OFF


def test_zero_rows_below_a_black_level_mean_cut_off() -> None:
    raw = noise(64, 48)
    raw[50:] = 0
    assert code(raw) == SENSOR_DATA_CUT_OFF
    assert code(raw, black=0) is None  # 0 is a real value then


def test_data_reading_zero_almost_everywhere_is_missing() -> None:
    """A stub whose pixel data was stripped: LibRaw reads zeros with a few stray values."""
    raw = np.zeros((256, 192), dtype=np.uint16)
    rng = np.random.default_rng(1)
    rows, cols = rng.integers(0, 256, 400), rng.integers(0, 192, 400)
    raw[rows, cols] = rng.integers(1, 4000, 400, dtype=np.uint16)
    raw[-4:] = noise(4, 192)  # the last rows hold stray values too
    assert code(raw, black=15) == SENSOR_DATA_MISSING
    assert code(raw, black=0) is None
    dark = noise(256, 192)
    dark[: 256 * 2 // 5] = 0  # a share of zeros a real frame never has, but under half
    assert code(dark) is None


@pytest.mark.parametrize("value", [0, 4095])
def test_uniform_rows_and_real_noise_are_not_cut_off(value: int) -> None:
    assert code(noise(64, 48)) is None
    clipped = noise(64, 48)
    clipped[32:] = value  # a clipped highlight, or a black border, is uniform
    assert code(clipped, black=0) is None


@pytest.mark.samples
def test_cut_compressed_raw_falls_back_to_its_preview() -> None:
    data = sample("real-full/sony_ilce-7rm3_apsc-crop.arw").read_bytes()
    assert not process_raw(io.BytesIO(data), name="whole.arw").degraded
    for fraction in (0.1, 0.5, 0.9):
        cut = process_raw(io.BytesIO(data[: int(len(data) * fraction)]), name="cut.arw")
        assert cut.degraded, fraction
        assert {r.source for r in cut.renditions} == {"embedded_preview"}
        assert [w.code for w in cut.warnings] == [SENSOR_DATA_CUT_OFF], fraction
