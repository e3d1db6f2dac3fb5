"""Fuzzing the engine with mutated real RAW files (a short, derandomised run).

Each example mutates a seed file (byte flips, truncation, inserted or deleted chunks,
rewritten TIFF directory fields; see ``tests/fixtures/mutate.py``) and runs ``open_raw``,
``read_metadata`` and ``process_raw`` (thumbnail only) on it. The only allowed outcomes
are a result or an ``ImagingError``. ``scripts/fuzz.py`` runs the same mutations for
minutes, in a subprocess that may crash.
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rawproc.imaging import BUILTIN, CorruptFile, engine, process_raw
from rawproc.imaging.engine import EngineOptions
from rawproc.imaging.errors import SENSOR_DATA_GARBAGE
from tests.fixtures.dngmaker import FUZZ_KINDS, PreviewMode, fuzz_kind_seeds, make_dng
from tests.fixtures.mutate import (
    INTERESTING,
    KINDS,
    Mutation,
    apply_all,
    exercise,
    exercise_metadata,
    interesting_bytes,
)
from tests.samples import FIXTURES

pytestmark = pytest.mark.timeout(300)

SEEDS = sorted(p.name for p in (FIXTURES / "raw").iterdir())

mutation = st.builds(
    Mutation,
    kind=st.sampled_from(KINDS),
    position=st.one_of(st.integers(0, 4095), st.integers(0, 2**31)),
    size=st.one_of(st.sampled_from((1, 2, 4)), st.integers(1, 256)),
    payload=st.one_of(
        st.builds(interesting_bytes, st.sampled_from(INTERESTING), st.just(4), st.booleans()),
        st.binary(min_size=1, max_size=8),
    ),
)
fuzz_settings = settings(
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fuzz(seed: bytes, name: str, examples: int) -> None:
    @settings(fuzz_settings, max_examples=examples)
    @given(st.lists(mutation, min_size=1, max_size=3))
    def check(mutations: list[Mutation]) -> None:
        code = exercise(apply_all(seed, mutations), name)
        assert code in (None, "unsupported_format", "corrupt_file", "image_too_large")

    check()


@pytest.mark.parametrize("seed", SEEDS)
def test_fuzz_real_fixture(seed: str) -> None:
    fuzz((FIXTURES / "raw" / seed).read_bytes(), seed, examples=20)


@pytest.mark.parametrize("preview", ["sensor", "none"])
def test_fuzz_decodable_dng(tmp_path: Path, preview: PreviewMode) -> None:
    """A file LibRaw fully decodes, so mutations reach the sensor decoding too."""
    data = make_dng(tmp_path / "seed.dng", width=240, height=160, preview=preview).read_bytes()
    fuzz(data, "seed.dng", examples=60)


@pytest.mark.parametrize("kind", sorted(FUZZ_KINDS))
def test_fuzz_dng_kind(tmp_path: Path, kind: str) -> None:
    """The DNG kinds the engine reads itself: its header parser, tile decoders and
    developer see the mutations (LibRaw refuses or misreads these files)."""
    seed = fuzz_kind_seeds(tmp_path)[kind]
    fuzz(seed, kind, examples=30)


# --- what fuzzing found, pinned down independently of the examples drawn ----------------


def test_undecodable_embedded_preview_is_a_corrupt_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A preview whose header reads but whose data is cut: Pillow's OSError is typed."""
    path = make_dng(tmp_path / "p.dng", width=240, height=160)

    def truncated(*args: object) -> NoReturn:
        raise OSError("image file is truncated (21 bytes not processed)")

    monkeypatch.setattr(engine, "decode_preview_pixels", truncated)
    with pytest.raises(CorruptFile, match=r"p\.dng: The camera's preview in the file is damaged"):
        process_raw(path, (BUILTIN["thumbnail"],))


@pytest.mark.parametrize("seed", SEEDS)
def test_fuzz_metadata_reader(seed: str) -> None:
    """The container reader alone: a JSON-safe record or a typed error, every time."""

    @settings(fuzz_settings, max_examples=40)
    @given(st.lists(mutation, min_size=1, max_size=3))
    def check(mutations: list[Mutation]) -> None:
        data = apply_all((FIXTURES / "raw" / seed).read_bytes(), mutations)
        assert exercise_metadata(data, seed) in (None, "unsupported_format", "corrupt_file")

    check()


def test_one_colour_sensor_render_becomes_rgb(tmp_path: Path) -> None:
    """Found by scripts/fuzz.py: a rewritten SamplesPerPixel makes LibRaw render one colour
    channel, which Pillow cannot take as it is. Made RGB, the render reaches the garbage
    check, which sees the scrambled mosaic for the noise it is; the embedded preview
    survived the mutation, so the file is served from it, degraded, with the reason."""
    seed = make_dng(tmp_path / "seed.dng", width=240, height=160).read_bytes()
    data = apply_all(
        seed,
        [
            Mutation("field", 715, 4, bytes.fromhex("219e")),
            Mutation("insert", 1004, 1, bytes.fromhex("de0e95a806bef7f7")),
        ],
    )
    result = process_raw(
        io.BytesIO(data),
        (BUILTIN["thumbnail"],),
        EngineOptions(force_sensor=True),
        name="mono.dng",
    )
    assert result.degraded
    [warning] = result.warnings
    assert warning.code == SENSOR_DATA_GARBAGE
    assert "noise" in warning.detail
    assert [r.source for r in result.renditions] == [engine.SOURCE_PREVIEW]


@pytest.mark.parametrize(
    ("kind", "mutations"),
    [
        # A LONG value rewritten to 0x7FFFFFFF: float() of the white level overflowed.
        ("linear-float32-deflate.dng", [Mutation("insert", 1052, 4, bytes.fromhex("7fffffff"))]),
        ("linear-jxl.dng", [Mutation("flip", 1029, 86, bytes.fromhex("e221e1"))]),
        # A damaged JPEG XL tile: libjxl says "could not determine frame count".
        ("linear-jxl.dng", [Mutation("flip", 165119, 22, bytes.fromhex("ee31540785550290"))]),
    ],
    ids=["white-level-overflow", "header-overflow", "jxl-frame-count"],
)
def test_damaged_dng_kinds_found_by_the_long_run(
    tmp_path: Path, kind: str, mutations: list[Mutation]
) -> None:
    """Found by ``scripts/fuzz.py --minutes 10 --seed 20261204``: an OverflowError from the
    DNG header parser and libjxl's RuntimeError escaped; both are typed now."""
    data = apply_all(fuzz_kind_seeds(tmp_path)[kind], mutations)
    assert exercise(data, kind) in (None, "unsupported_format", "corrupt_file")
