"""The decoder registry: flashraw serves only the kinds where it gives what LibRaw gives.

For every file of the fixtures, of dngmaker's kinds and of the sample corpus (when present)
that the registry hands to flashraw, its raw samples must equal LibRaw's ``raw_image`` bit
for bit (and the visible area ``raw_image_visible``), and the levels, white balance, CFA
layout and colour matrix must be LibRaw's. These fail when an upgrade of either library
changes what it decodes. Kinds nothing proved (JPEG XL, floating-point, linear, lossy DNG)
must never go to flashraw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flashraw
import numpy as np
import pytest

from rawproc.imaging import decoders, develop, engine
from rawproc.imaging.errors import ImagingError
from rawproc.imaging.metadata import extract_metadata
from rawproc.imaging.rawfile import open_raw
from tests.fixtures.dngmaker import DNG_KINDS, make_dng, make_kind_dng
from tests.samples import FIXTURES, sample, samples_dir

# Corpus files of kinds flashraw is proven on: the registry must pick it for them.
SERVED_SAMPLES = (
    "synthetic/dng_24mp_nikon-d7100_o1.dng",
    "synthetic/dng_12mp_portrait_o6.dng",
    "real-full/nikon_d5000_converted.dng",
)
# LibRaw's colour matrix is float32 arithmetic; the same matrix computed in double.
_MATRIX_TOLERANCE = 5e-5


def _corpus() -> list[Path]:
    root = samples_dir()
    files = sorted((FIXTURES / "raw").iterdir())
    if root is not None:
        files += sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".tsv"
                        and p.suffix != ".md")  # fmt: skip
    return files


def _check_equal_to_libraw(path: Path) -> decoders.Unpacked | None:
    try:
        opened = open_raw(path)
    except ImagingError:  # refused before any decoder is chosen
        return None
    with opened as raw:
        unpacked = decoders.unpack_sensor(raw)
        if unpacked is None:
            return None
        assert raw.libraw is not None and raw.dng is None
        assert decoders.flashraw_serves(unpacked.kind)
        with flashraw.open(str(path)) as fr:
            samples = fr.decode("raw-u16", threads=1).array
        libraw = raw.libraw
        assert samples.dtype == libraw.raw_image.dtype
        assert np.array_equal(samples, libraw.raw_image)
        assert np.array_equal(unpacked.sensor.mosaic, libraw.raw_image_visible)
        ref = develop._sensor_data(raw)
        got = unpacked.sensor
        assert (got.pattern, got.black, got.white) == (ref.pattern, ref.black, ref.white)
        assert np.allclose(np.divide(got.balance, got.balance[1]),
                           np.divide(ref.balance, ref.balance[1]), rtol=0, atol=1e-7)  # fmt: skip
        assert np.abs(got.camera_to_srgb - ref.camera_to_srgb).max() < _MATRIX_TOLERANCE
        facts = extract_metadata(raw, unpack=True)["raw"]
        assert {k: facts[k] for k in unpacked.facts} == unpacked.facts
        return unpacked


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_flashraw_equals_libraw_where_it_serves(path: Path) -> None:
    unpacked = _check_equal_to_libraw(path)
    root = samples_dir()
    if (
        root is not None
        and path.is_relative_to(root)
        and (path.relative_to(root).as_posix() in SERVED_SAMPLES)
    ):
        assert unpacked is not None, "the registry should give this kind to flashraw"


@pytest.mark.parametrize(
    "options",
    [
        {"bits": 14},
        {"bits": 12, "white": 4000, "black": 128},
        {"bits": 16, "white": 60000, "black": 0},
        {"orientation": 6},
        {"orientation": 3, "preview": "none"},
    ],
    ids=str,
)
def test_dngmaker_bayer_dngs_served_and_equal(tmp_path: Path, options: dict[str, Any]) -> None:
    path = make_dng(tmp_path / "bayer.dng", width=240, height=160, **options)
    assert _check_equal_to_libraw(path) is not None


@pytest.mark.parametrize("kind", sorted(DNG_KINDS))
def test_unproven_dng_kinds_never_go_to_flashraw(tmp_path: Path, kind: str) -> None:
    made = make_kind_dng(tmp_path / f"{kind}.dng", width=240, height=160, **DNG_KINDS[kind])
    with open_raw(made.path) as raw:
        assert decoders.unpack_sensor(raw) is None
    try:
        with flashraw.open(str(made.path)) as fr:
            kind_seen = decoders.kind_of(fr.metadata)
    except flashraw.FlashRawError:
        return
    if kind_seen.compression in ("jpeg-xl", "jxl") or kind_seen.layout != "bayer":
        assert not decoders.flashraw_serves(kind_seen)


def test_flashraw_failure_falls_back_to_libraw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_dng(tmp_path / "bayer.dng", width=240, height=160)
    served = engine.process_raw(path, options=engine.EngineOptions(force_sensor=True))

    def broken(*args: object, **kwargs: object) -> None:
        raise flashraw.CorruptFileError("simulated")

    monkeypatch.setattr(flashraw.RawFile, "decode", broken)
    fallback = engine.process_raw(path, options=engine.EngineOptions(force_sensor=True))
    assert (served.decoder, fallback.decoder) == (decoders.FLASHRAW, decoders.LIBRAW)
    assert fallback.metadata == served.metadata
    assert [r.width for r in fallback.renditions] == [r.width for r in served.renditions]
    assert "metadata" in fallback.timings_ms and fallback.timings_ms["metadata"] > 0


def test_the_result_names_the_decoder_that_read_the_sensor_data(tmp_path: Path) -> None:
    bayer = make_dng(tmp_path / "bayer.dng", width=240, height=160, preview_size=2048)
    sensor = engine.EngineOptions(force_sensor=True)
    assert engine.process_raw(bayer, options=sensor).decoder == decoders.FLASHRAW
    # the embedded preview serves every rendition: no sensor data was read
    assert engine.process_raw(bayer).decoder is None
    kind = "linear-uint16"
    own = make_kind_dng(tmp_path / f"{kind}.dng", width=240, height=160, **DNG_KINDS[kind])
    assert engine.process_raw(own.path, options=sensor).decoder == decoders.ENGINE


@pytest.mark.samples
def test_decoding_in_bands_gives_the_samples_of_one_decode() -> None:
    # 256 px lossless-JPEG tiles: decoded a band of tile rows at a time from its path
    path = sample("synthetic/dng_24mp_nikon-d7100_o1.dng")
    with flashraw.open(str(path)) as fr:
        whole = fr.decode("raw-u16", threads=1).array
        bands = decoders._bands(fr.tiles, whole.shape[0])
    assert len(bands) >= 2
    assert [top for top, _ in bands] == sorted({top for top, _ in bands})
    assert sum(rows for _, rows in bands) == whole.shape[0]
    with open_raw(path) as raw:
        unpacked = decoders.unpack_sensor(raw)
    assert unpacked is not None and unpacked.buffer is not None
    np.testing.assert_array_equal(unpacked.buffer, whole)
