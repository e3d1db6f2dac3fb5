"""Band-by-band development of Bayer sensor data against LibRaw's own render."""

from __future__ import annotations

import io
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
import rawpy
from PIL import Image

from rawproc.imaging import RenditionSpec, process_raw
from rawproc.imaging import develop as develop_module
from rawproc.imaging import engine as engine_module
from rawproc.imaging.develop import (
    _BAYER_LAYOUTS,
    SRGB_GAMMA,
    _demosaic_band,
    _phase_rows,
    _Recipe,
    _Scratch,
    develop,
    developable,
    refusal,
)
from rawproc.imaging.orientation import apply_orientation
from rawproc.imaging.rawfile import RawFile, open_raw
from tests.fixtures.dngmaker import make_dng
from tests.samples import sample

W, H = 600, 400


def scene() -> np.ndarray:
    """Gradients, saturated patches and a near-white band: exercises colour and brightness."""
    y, x = np.mgrid[0:H, 0:W]
    image = np.empty((H, W, 3), np.uint8)
    image[..., 0] = 40 + 160 * x / W
    image[..., 1] = 30 + 150 * y / H
    image[..., 2] = 200 - 150 * x / W
    image[40:140, 40:200] = (210, 40, 30)
    image[40:140, 400:560] = (30, 60, 210)
    image[260:330, 100:500] = (245, 245, 240)
    return image


def block_difference(a: np.ndarray, b: np.ndarray, block: int = 8) -> np.ndarray:
    """Per-block mean difference, which leaves out how two demosaics draw single edges."""
    assert a.shape == b.shape, (a.shape, b.shape)
    h, w = a.shape[0] // block * block, a.shape[1] // block * block

    def blocks(x: np.ndarray) -> np.ndarray:
        x = x[:h, :w].astype(np.float64)
        return np.asarray(x.reshape(h // block, block, w // block, block, 3).mean(axis=(1, 3)))

    return np.asarray(np.abs(blocks(a) - blocks(b)))


def libraw_render(path: Path, *, half_size: bool) -> np.ndarray:
    with rawpy.imread(str(path)) as raw:
        return raw.postprocess(
            half_size=half_size, use_camera_wb=True, output_bps=8, gamma=SRGB_GAMMA
        )


@pytest.fixture
def clip_like_libraw(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clip each channel on its own, as LibRaw does, in place of the hue-preserving
    gamut mapping (tested in ``test_colour.py``): everything else is compared exactly."""

    def clip(planes: list[np.ndarray], white: float) -> list[np.ndarray]:
        for plane in planes:
            np.clip(plane, 0, white, out=plane)
        return planes

    monkeypatch.setattr(develop_module, "fit_planes_to_gamut", clip)


def developed(path: Path, *, half_size: bool, orientation: int | None = None) -> np.ndarray:
    raw = open_raw(path)
    assert developable(raw)
    assert raw.libraw is not None
    if orientation is None:
        orientation = {0: 1, 3: 3, 5: 8, 6: 6}[int(raw.libraw.sizes.flip)]
    image = develop(raw, half_size=half_size, orientation=orientation)
    assert raw.libraw is None, "LibRaw's buffers are released"
    return np.asarray(image)


DNG_CASES: dict[str, dict[str, Any]] = {
    "rggb": {},
    "cool light, 12 bits": {"wb": (1.4, 1.0, 2.6), "bits": 12, "black": 256, "white": 4000},
    "turned a quarter": {"orientation": 6},
    "upside down": {"orientation": 3},
    "turned back a quarter": {"orientation": 8},
}


@pytest.mark.parametrize("half_size", [False, True], ids=["full", "half"])
@pytest.mark.parametrize("case", DNG_CASES)
@pytest.mark.usefixtures("clip_like_libraw")
def test_matches_libraw(tmp_path: Path, case: str, half_size: bool) -> None:
    kwargs = DNG_CASES[case]
    path = make_dng(tmp_path / "t.dng", scene=scene(), preview="none", **kwargs)
    ours = developed(path, half_size=half_size)
    theirs = libraw_render(path, half_size=half_size)
    assert ours.shape == theirs.shape
    difference = block_difference(ours, theirs)
    # Half size is the same arithmetic as LibRaw's; full size differs by the demosaic only,
    # which shows at the sharp edges of the patches (the top 5 % of blocks).
    assert difference.mean() < (0.5 if half_size else 1.0), difference.mean()
    assert np.percentile(difference, 95) < (1.0 if half_size else 2.0)


@pytest.mark.parametrize("half_size", [False, True], ids=["full", "half"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_is_the_upright_render_turned(
    tmp_path: Path, orientation: int, half_size: bool
) -> None:
    path = make_dng(tmp_path / "t.dng", scene=scene(), preview="none")
    upright = Image.fromarray(developed(path, half_size=half_size, orientation=1))
    expected = np.asarray(apply_orientation(upright, orientation))
    turned = developed(path, half_size=half_size, orientation=orientation)
    assert turned.shape == expected.shape
    if half_size or orientation in (1, 2, 3, 4):
        np.testing.assert_array_equal(turned, expected)
    else:  # a turned mosaic is demosaiced along the other axis: same picture, other rounding
        assert block_difference(turned, expected).mean() < 0.5


def _mosaic_of(image: np.ndarray, pattern: tuple[int, int, int, int]) -> np.ndarray:
    mosaic = np.empty(image.shape[:2], np.uint16)
    for position, channel in enumerate(pattern):
        dy, dx = divmod(position, 2)
        mosaic[dy::2, dx::2] = image[dy::2, dx::2, channel]
    return mosaic


def _demosaiced(mosaic: np.ndarray, pattern: tuple[int, int, int, int]) -> np.ndarray:
    recipe = _Recipe(pattern, (0.0,) * 4, (1.0,) * 4, np.eye(3, dtype=np.float32))
    black, scale = _phase_rows(recipe, mosaic.shape[1])
    return _demosaic_band(mosaic, 0, mosaic.shape[0], recipe, black, scale)


@pytest.mark.parametrize("pattern", sorted(_BAYER_LAYOUTS))
def test_every_bayer_layout_gives_back_a_flat_colour(pattern: tuple[int, int, int, int]) -> None:
    image = np.empty((16, 16, 3), np.uint16)
    image[:] = (1000, 2000, 3000)
    rgb = _demosaiced(_mosaic_of(image, pattern), pattern)
    np.testing.assert_allclose(rgb, image, atol=0.01)


@pytest.mark.parametrize("vertical", [True, False], ids=["vertical", "horizontal"])
def test_edges_are_followed_not_averaged_across(vertical: bool) -> None:
    """A sharp grey edge comes back sharp: no zipper, no colour fringe (bilinear would blur
    it over two pixels and tint it)."""
    image = np.full((32, 32, 3), 4000, np.uint16)
    if vertical:
        image[:, 15:] = 30000
    else:
        image[15:] = 30000
    rgb = _demosaiced(_mosaic_of(image, (0, 1, 1, 2)), (0, 1, 1, 2))
    inner = (slice(4, -4), slice(4, -4))  # away from the mirrored borders
    np.testing.assert_allclose(rgb[inner], image[inner], atol=1.0)


def _stub(**overrides: object) -> RawFile:
    """A RawFile whose LibRaw facts are given, for the sensors that must go to LibRaw."""
    facts: dict[str, object] = {
        "num_colors": 3,
        "raw_type": rawpy.RawType.Flat,
        "sizes": SimpleNamespace(pixel_aspect=1.0, width=4, height=4),
        "color_desc": b"RGBG",
        "raw_pattern": np.array([[0, 1], [3, 2]]),
        "color_matrix": np.zeros((3, 4)),
        "rgb_xyz_matrix": np.array(
            [[0.8, -0.3, -0.1], [-0.6, 1.4, 0.2], [-0.1, 0.2, 0.6], [0, 0, 0]]
        ),
        "camera_whitebalance": [2.0, 1.0, 1.5, 1.0],
        "raw_image_visible": np.zeros((4, 4), np.uint16),
    }
    facts.update(overrides)
    return RawFile("stub.nef", "NEF", 1, SimpleNamespace(**facts))


def test_a_plain_bayer_sensor_is_developed_here() -> None:
    assert developable(_stub())


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"num_colors": 4, "color_desc": b"CMYG"}, "not three colours"),
        ({"color_desc": b"CMYG"}, "not a 2x2 Bayer pattern"),  # three-colour CMY
        ({"raw_pattern": np.zeros((6, 6), int)}, "not a 2x2 Bayer pattern"),  # X-Trans
        ({"raw_pattern": np.array([[0, 0], [2, 2]])}, "not a 2x2 Bayer pattern"),  # stripes
        ({"raw_type": rawpy.RawType.Stack}, "not a flat mosaic"),  # linear DNG, Foveon
        (
            {"sizes": SimpleNamespace(pixel_aspect=2.0, width=4, height=4)},
            "pixels not square",
        ),
        ({"camera_whitebalance": [-1.0, 1.0, 1.0, 0.0]}, "no camera white balance"),
        ({"rgb_xyz_matrix": np.zeros((4, 3))}, "no colour matrix"),
        ({"raw_image_visible": None}, "visible data not the picture's size"),
        # SuperCCD/EXR: LibRaw turns the picture by 45 degrees, so it is larger than the data
        (
            {"sizes": SimpleNamespace(pixel_aspect=1.0, width=7, height=6)},
            "visible data not the picture's size",
        ),
        ({"raw_image_visible": np.zeros((4, 3), np.uint16)}, "visible data not the picture's size"),
        ({"raw_image_visible": np.zeros(16, np.uint16)}, "visible data not the picture's size"),
    ],
    ids=[
        "four-colour",
        "cmy",
        "x-trans",
        "stripes",
        "linear",
        "pixel-aspect",
        "auto-wb",
        "no-matrix",
        "no-data",
        "superccd",
        "clipped",
        "one-row",
    ],
)
def test_other_sensors_stay_with_libraw(overrides: dict[str, object], reason: str) -> None:
    raw = _stub(**overrides)
    assert refusal(raw) == reason
    assert not developable(raw)


def test_a_file_libraw_did_not_open_is_not_developed() -> None:
    raw = _stub()
    raw.libraw = None
    assert refusal(raw) == "LibRaw did not open the file"


def test_a_layout_rawpy_cannot_describe_stays_with_libraw() -> None:
    class Unusual(SimpleNamespace):
        @property
        def raw_pattern(self) -> np.ndarray:
            raise NotImplementedError("filters: 4")  # what rawpy says for such a sensor

    raw = _stub()
    facts = dict(vars(raw.libraw))
    del facts["raw_pattern"]
    raw.libraw = Unusual(**facts)
    assert not developable(raw)


def test_engine_renders_with_libraw_when_a_sensor_is_not_developable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_dng(tmp_path / "t.dng", scene=scene(), preview="none", orientation=6)
    specs = [RenditionSpec("full", None, "jpeg", 95)]
    ours = np.asarray(Image.open(_only(process_raw(path, specs))).convert("RGB"))
    monkeypatch.setattr(engine_module, "developable", lambda raw: False)
    theirs = np.asarray(Image.open(_only(process_raw(path, specs))).convert("RGB"))
    assert ours.shape == theirs.shape == (H, W, 3)
    assert block_difference(ours, theirs).mean() < 1.5


def _only(result: engine_module.ProcessResult) -> io.BytesIO:
    (rendition,) = result.renditions
    return io.BytesIO(rendition.data)


def test_used_scratch_rows_are_given_back() -> None:
    mosaic = np.arange(256 * 4096, dtype=np.uint32).astype(np.uint16).reshape(256, 4096)
    with _Scratch(mosaic) as scratch:
        np.testing.assert_array_equal(scratch.rows, mosaic)
        scratch.release_before(100)
        # Private anonymous pages read back as zeros once the kernel has taken them.
        assert not scratch.rows[:99].any()
        np.testing.assert_array_equal(scratch.rows[101:], mosaic[101:])


@pytest.mark.parametrize("half_size", [False, True], ids=["full", "half"])
@pytest.mark.parametrize("orientation", [1, 3, 6])
def test_bands_side_by_side_give_the_pixels_of_one_after_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, orientation: int, half_size: bool
) -> None:
    path = make_dng(tmp_path / "t.dng", scene=scene(), preview="none")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    alone = developed(path, half_size=half_size, orientation=orientation)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    together = developed(path, half_size=half_size, orientation=orientation)
    np.testing.assert_array_equal(together, alone)


def test_rows_are_given_back_only_below_every_finished_band() -> None:
    finished: set[int] = set()
    told: list[int] = []

    def develop_band(top: int) -> None:
        time.sleep(0.002 * ((top // 8) % 3))  # later bands sometimes finish first
        finished.add(top)

    def done(top: int) -> None:
        assert all(t in finished for t in range(0, top + 1, 8))
        told.append(top)

    develop_module._in_bands(range(0, 200, 8), develop_band, done, 4)
    assert told == list(range(0, 200, 8))


CORPUS = [
    "synthetic/nef_24mp_nikon-d7100_uncompressed.nef",
    "synthetic/dng_12mp_portrait_o6.dng",
    "real-full/canon_eos-30d.cr2",
    "real-full/nikon_d5000_converted.dng",
    "real-full/sony_ilce-7rm3_apsc-crop.arw",
    "raw/blackmagic_pocket-cinema-4k.dng",
]


@pytest.mark.samples
@pytest.mark.parametrize("half_size", [False, True], ids=["full", "half"])
@pytest.mark.parametrize("name", CORPUS)
@pytest.mark.usefixtures("clip_like_libraw")
def test_camera_files_match_libraw(name: str, half_size: bool) -> None:
    path = sample(name)
    ours = developed(path, half_size=half_size)
    theirs = libraw_render(path, half_size=half_size)
    difference = block_difference(ours, theirs, block=16)
    assert difference.mean() < 1.0, difference.mean()
    assert np.percentile(difference, 99) < 4.0


# --- the half-size develop against the formula it replaced -------------------------------
# The output stage was made faster (colour planes made contiguous, the gamut lift over
# whole bands); these are the steps as they were, one pixel list at a time. The new code
# must give the same 8-bit pixels, bit for bit: every operation is the same IEEE float32
# operation in the same order, only arranged differently.


def _superpixels_before(mosaic: np.ndarray, recipe: _Recipe, *, step: int) -> np.ndarray:
    rows, cols = mosaic.shape[0] // step, mosaic.shape[1] // step
    out = np.zeros((rows, cols, 3), dtype=np.float32)
    for position, colour in enumerate(recipe.pattern):
        dy, dx = divmod(position, 2)
        plane = mosaic[dy::step, dx::step][:rows, :cols].astype(np.float32)
        weight = 0.5 if colour == 1 else 1.0
        out[..., colour] += (plane - recipe.black[position]) * (recipe.scale[position] * weight)
    np.clip(out, 0, 65535, out=out)
    return out.astype(np.uint16)


def _fit_to_gamut_before(rgb: np.ndarray, white: float) -> np.ndarray:
    flat = rgb.reshape(-1, 3)
    saturated = np.flatnonzero(flat.min(axis=1) < 0)
    if saturated.size:
        colours = flat[saturated]
        low = colours.min(axis=1, keepdims=True)
        high = colours.max(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            flat[saturated] = np.where(high > 0, (colours - low) * (high / (high - low)), 0)
    bright = np.flatnonzero(flat.max(axis=1) > white)
    if bright.size:
        colours = flat[bright]
        low = colours.min(axis=1, keepdims=True)
        high = colours.max(axis=1, keepdims=True)
        floor = np.minimum(low, white)
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = np.where(high > low, (white - floor) / (high - low), 0)
        flat[bright] = floor + (colours - low) * spread
    return rgb


def _half_size_before(data: develop_module.SensorData) -> np.ndarray:
    recipe = develop_module._recipe(data)
    mosaic = data.mosaic
    height, width = mosaic.shape[0] // 4 * 4, mosaic.shape[1] // 4 * 4
    sample = _superpixels_before(mosaic[:height, :width], recipe, step=4)
    white = develop_module.auto_white([sample], recipe.camera_to_srgb)
    camera = _superpixels_before(mosaic[: mosaic.shape[0] // 2 * 2], recipe, step=2)
    srgb = np.asarray(cv2.transform(camera.astype(np.float32), recipe.camera_to_srgb))
    _fit_to_gamut_before(srgb, float(white))
    np.clip(srgb, 0, 65535, out=srgb)
    return np.take(develop_module._tone_curve(white), srgb.astype(np.uint16))


@pytest.mark.parametrize("noise", [0, None], ids=["noisy", "noiseless"])
def test_half_size_develop_gives_the_pixels_of_the_formula_it_replaced(
    tmp_path: Path, noise: int | None
) -> None:
    # Saturated patches (channels below 0 after the matrix), a near-white band and the
    # highlights the white balance pushes above white, and shadows' noise.
    path = make_dng(tmp_path / "chart.dng", scene=scene(), seed=noise, wb=(2.4, 1.0, 1.7))
    with open_raw(path) as raw:
        data = develop_module._sensor_data(raw)
        expected = _half_size_before(data)
        result = develop_module.develop_mosaic(data, half_size=True, orientation=1).srgb
    assert result is not None
    got = np.asarray(result)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("share", [0.0, 2.0], ids=["band-wide", "gathered"])
def test_fit_to_gamut_gives_the_colours_of_the_formula_it_replaced(
    monkeypatch: pytest.MonkeyPatch, share: float
) -> None:
    # Both ways of clipping highlights: over the whole band, and on the bright colours.
    monkeypatch.setattr(develop_module, "_BRIGHT_SHARE_BANDWIDE", share)
    rng = np.random.default_rng(7)
    white = 60000.0
    rgb = rng.uniform(-20000, 90000, (64, 257, 3)).astype(np.float32)
    rgb[0, :8] = 0  # black, and colours with no channel above 0
    rgb[1, :8] = -5
    rgb[2, :8] = white  # exactly white
    expected = _fit_to_gamut_before(rgb.copy(), white)
    np.testing.assert_array_equal(develop_module.fit_to_gamut(rgb.copy(), white), expected)


# --- the full-size develop against the formula it replaced -------------------------------
# Made faster: green chosen between the two estimates with OpenCV's masked copy, the output
# stage on colour planes with OpenCV's 16-bit lookup. The same 8-bit pixels, bit for bit.


def _green_plane_before(mosaic: np.ndarray, pattern: tuple[int, int, int, int]) -> np.ndarray:
    def correlate(kernel: np.ndarray) -> np.ndarray:
        return np.asarray(cv2.filter2D(mosaic, -1, kernel, borderType=cv2.BORDER_REFLECT_101))

    across = np.abs(correlate(develop_module._HA_STEP)) + np.abs(
        correlate(develop_module._HA_CURVATURE)
    )
    down = np.abs(correlate(develop_module._HA_STEP.T)) + np.abs(
        correlate(develop_module._HA_CURVATURE.T)
    )
    estimate = correlate(develop_module._HA_ESTIMATE)
    np.copyto(estimate, correlate(develop_module._HA_ESTIMATE.T), where=down < across)
    green = mosaic.copy()
    for position, colour in enumerate(pattern):
        if colour != 1:
            dy, dx = divmod(position, 2)
            green[dy::2, dx::2] = estimate[dy::2, dx::2]
    return np.clip(green, 0, 65535, out=green)


def _output_before(camera: np.ndarray, matrix: np.ndarray, white: int) -> np.ndarray:
    srgb = np.asarray(cv2.transform(camera, matrix))
    _fit_to_gamut_before(srgb, float(white))
    np.clip(srgb, 0, 65535, out=srgb)
    return np.take(develop_module._tone_curve(white), srgb.astype(np.uint16))


@pytest.mark.parametrize("pattern", sorted(_BAYER_LAYOUTS))
def test_green_plane_gives_the_pixels_of_the_formula_it_replaced(
    pattern: tuple[int, int, int, int],
) -> None:
    rng = np.random.default_rng(3)
    mosaic = rng.uniform(0, 65535, (40, 301)).astype(np.float32)
    mosaic[10:30, 100:200] = 30000  # flat: the two gradients tie
    expected = _green_plane_before(mosaic, pattern)
    np.testing.assert_array_equal(develop_module._green_plane(mosaic, pattern), expected)


@pytest.mark.parametrize("share", [0.0, 2.0], ids=["band-wide", "gathered"])
def test_output_stage_gives_the_pixels_of_the_formula_it_replaced(
    monkeypatch: pytest.MonkeyPatch, share: float
) -> None:
    monkeypatch.setattr(develop_module, "_BRIGHT_SHARE_BANDWIDE", share)
    rng = np.random.default_rng(11)
    camera = rng.uniform(-3000, 90000, (48, 257, 3)).astype(np.float32)
    camera[:8] = rng.uniform(0, 20000, (8, 257, 3))  # inside, as most of a photo is
    matrix = np.array(
        [[1.8, -0.6, -0.2], [-0.25, 1.5, -0.25], [0.05, -0.55, 1.5]], dtype=np.float32
    )
    white = 52000
    expected = _output_before(camera.copy(), matrix, white)
    got = develop_module.camera_to_output(camera.copy(), matrix, white)
    assert got.dtype == np.uint8 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
