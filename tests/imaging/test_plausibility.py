"""Garbage never ``ready``: sensor renders that are not the picture in the file.

Synthetic DNGs whose embedded preview shows a scene (the test chart, or a random smooth
"photo") while their sensor data is replaced by garbage of a kind real files produce:
random noise, a constant, shuffled tiles (a decoder that puts tiles in the wrong place),
sheared rows and a wrong row stride (a wrong geometry). Each must be seen and rendered from
the preview with a ``sensor_data_garbage`` warning, or fail with a reason without a preview;
the same files with their true sensor data must not be flagged, nor any real file
(``test_no_false_positive_on_any_real_file``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from PIL import Image

from rawproc.imaging import EngineOptions, ImagingError, RenditionSpec, plausibility, process_raw
from rawproc.imaging.errors import SENSOR_DATA_GARBAGE, SensorDataUnusable
from tests.fixtures.dngmaker import make_dng
from tests.fixtures.messages import not_human
from tests.samples import FIXTURES, samples_dir

pytestmark = pytest.mark.timeout(600)

Mosaic = NDArray[np.uint16]
# A full rendition makes the engine decode the sensor data whatever the preview's size.
SPECS = (RenditionSpec("thumbnail", 320), RenditionSpec("full", None))
BLACK, WHITE = 512, 16000
property_settings = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=12,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def noise(raw: Mosaic, seed: int) -> Mosaic:
    return np.random.default_rng(seed).integers(BLACK, WHITE, raw.shape, dtype=np.uint16)


def constant(raw: Mosaic, seed: int) -> Mosaic:
    level = int(np.random.default_rng(seed).integers(BLACK, WHITE))
    return np.full_like(raw, level)


def shuffled_tiles(raw: Mosaic, seed: int) -> Mosaic:
    tile = 40  # even, so every tile keeps the colour filter's phase
    h, w = raw.shape[0] // tile * tile, raw.shape[1] // tile * tile
    tiles = raw[:h, :w].reshape(h // tile, tile, w // tile, tile).swapaxes(1, 2)
    flat = tiles.reshape(-1, tile, tile)
    flat = flat[np.random.default_rng(seed).permutation(len(flat))]
    out = raw.copy()
    out[:h, :w] = flat.reshape(h // tile, w // tile, tile, tile).swapaxes(1, 2).reshape(h, w)
    return out


def sheared(raw: Mosaic, seed: int) -> Mosaic:
    step = 2 * int(np.random.default_rng(seed).integers(2, 6))
    out = raw.copy()
    for row in range(raw.shape[0]):
        out[row] = np.roll(raw[row], row * step % raw.shape[1])
    return out


def wrong_stride(raw: Mosaic, seed: int) -> Mosaic:
    """Rows read with a wrong length, as from a misread width."""
    width = raw.shape[1] + 2 * int(np.random.default_rng(seed).integers(1, 4))
    flat = raw.ravel()
    rows = flat[: flat.size // width * width].reshape(-1, width)[:, : raw.shape[1]]
    out = np.full_like(raw, BLACK)
    out[: rows.shape[0]] = rows
    return out


GARBAGE = {f.__name__: f for f in (noise, constant, shuffled_tiles, sheared, wrong_stride)}


def smooth_scene(seed: int, width: int, height: int) -> NDArray[np.uint8]:
    """A random "photograph": large smooth shapes, like most real scenes."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 256, (int(rng.integers(3, 8)), int(rng.integers(3, 8)), 3))
    small = Image.fromarray(cells.astype(np.uint8))
    return np.asarray(small.resize((width, height), Image.Resampling.BICUBIC))


scenes = st.builds(
    lambda seed, size, chart: None if chart else smooth_scene(seed, *size),
    st.integers(0, 2**16),
    st.sampled_from([(600, 400), (480, 360), (400, 600)]),
    st.booleans(),
)


def build(
    path: Path,
    scene: NDArray[np.uint8] | None,
    garble: Callable[[Mosaic], Mosaic] | None,
    **options: object,
) -> Path:
    size = {} if scene is not None else {"width": 600, "height": 400}
    return make_dng(path, scene=scene, garble=garble, **size, **options)  # type: ignore[arg-type]


@property_settings
@given(scene=scenes, kind=st.sampled_from(sorted(GARBAGE)), seed=st.integers(0, 2**16))
def test_garbage_sensor_data_is_rendered_from_the_preview(
    tmp_path: Path, scene: NDArray[np.uint8] | None, kind: str, seed: int
) -> None:
    path = build(tmp_path / "garbage.dng", scene, lambda raw: GARBAGE[kind](raw, seed))
    result = process_raw(path, SPECS)
    assert result.degraded, kind
    assert {r.source for r in result.renditions} == {"embedded_preview"}
    [warning] = result.warnings
    assert warning.code == SENSOR_DATA_GARBAGE, kind
    assert warning.message == (
        "The image data in the file is garbled: shown from the camera's 1024 px preview."
    )
    assert not_human(warning.message) is None
    assert warning.detail.startswith("the sensor render")


@property_settings
@given(scene=scenes, orientation=st.sampled_from([1, 3, 6, 8]), seed=st.integers(0, 2**16))
def test_true_sensor_data_is_not_flagged(
    tmp_path: Path, scene: NDArray[np.uint8] | None, orientation: int, seed: int
) -> None:
    path = build(tmp_path / "true.dng", scene, None, orientation=orientation, seed=seed)
    result = process_raw(path, SPECS)
    assert not result.degraded
    assert result.warnings == []
    assert result.renditions[1].source == "full_demosaic"


@pytest.mark.parametrize("preview", ["sensor", "rotated"])
def test_a_preview_in_another_orientation_still_matches(tmp_path: Path, preview: str) -> None:
    """The comparison takes the best of eight orientations, so a preview stored upright
    where the sensor data is not never makes a good render look like garbage."""
    path = make_dng(tmp_path / "o.dng", orientation=6, preview=preview)  # type: ignore[arg-type]
    assert not process_raw(path, SPECS).degraded


def test_noise_without_a_preview_fails_with_a_reason(tmp_path: Path) -> None:
    path = build(tmp_path / "noise.dng", None, lambda raw: noise(raw, 1), preview="none")
    with pytest.raises(SensorDataUnusable) as info:
        process_raw(path, SPECS)
    assert info.value.code == "corrupt_file"
    assert info.value.problem == SENSOR_DATA_GARBAGE
    assert not_human(info.value.message) is None
    assert "noise" in info.value.detail


def test_a_flat_render_without_a_preview_is_still_a_picture(tmp_path: Path) -> None:
    """A uniform render (a lens cap, a grey card) cannot be told from garbage without a
    preview, so it is shown: the check only refuses what it can prove."""
    path = build(tmp_path / "flat.dng", None, lambda raw: constant(raw, 1), preview="none")
    result = process_raw(path, SPECS)
    assert not result.degraded and result.warnings == []


def test_the_statistics_separate_noise_from_pictures() -> None:
    rng = np.random.default_rng(0)
    white = Image.fromarray(rng.integers(0, 256, (600, 900), dtype=np.uint8)).convert("RGB")
    photo = Image.fromarray(smooth_scene(3, 900, 600))
    assert plausibility.coarse_ratio(plausibility._grey(white)) < 0.1
    assert plausibility.coarse_ratio(plausibility._grey(photo)) > 0.5
    reference = plausibility.reference(photo.reduce(8))
    assert plausibility.garbage(photo, reference) is None
    assert plausibility.garbage(white, reference) is not None
    assert plausibility.garbage(photo.transpose(Image.Transpose.ROTATE_90), reference) is None


def _real_files() -> list[Path]:
    files = sorted(p for p in (FIXTURES / "raw").iterdir() if p.is_file())
    root = samples_dir()
    if root is not None:
        files += sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".tsv")
    return [p for p in files if p.suffix.lower() not in (".md", ".txt", ".json")]


@pytest.mark.samples
def test_no_false_positive_on_any_real_file() -> None:
    """Every fixture and corpus file: the garbage check never refuses a real render. Files
    whose sensor data is really gone (stubs, truncations) fail or degrade for another reason."""
    if samples_dir() is None:
        pytest.skip("RAW sample corpus not found (set RAWPROC_SAMPLES_DIR to enable this test)")
    judged = 0
    for path in _real_files():
        try:
            result = process_raw(path, SPECS[:1], EngineOptions(force_sensor=True))
        except SensorDataUnusable as exc:
            assert exc.problem != SENSOR_DATA_GARBAGE or path.name.endswith("exiftool-stub.rw2"), (
                path.name,
                exc.detail,
            )
            continue
        except ImagingError:
            continue
        codes = [w.code for w in result.warnings]
        assert SENSOR_DATA_GARBAGE not in codes, (path.name, result.warnings)
        judged += not result.degraded
    assert judged >= 10  # the corpus's complete files were rendered from their sensor data
