"""Developing Bayer sensor data band by band, so a render never holds the whole picture twice.

LibRaw's own pipeline (``dcraw_process``) keeps the raw mosaic, a 4 x 16-bit working
image and the 8-bit result in memory at once: about 14 bytes a pixel at full size. Here
the mosaic is copied once into a scratch buffer and LibRaw is closed; the picture is then
made one band of rows at a time (black level and white balance, demosaic, camera colour
to sRGB, gamut mapping, the sRGB curve and LibRaw's brightness, orientation) and pasted
into the result, and the scratch pages a band has used go back to the kernel at once.
The peak is the result plus one band: about 4 bytes a pixel. A half-size render (each
2x2 block merged into one pixel, as LibRaw's half-size mode does) is a quarter of the
mosaic's pixels and is read straight from LibRaw's buffer.

The steps and their constants are LibRaw's (camera white balance, highlights clipped,
the top 1 % of pixels at white, and the sRGB curve LibRaw draws for ``gamma=(2.4, 12.92)``
in place of its default BT.709 one, so the sRGB profile every rendition carries is true),
so colours and brightness match a LibRaw render. One step is not LibRaw's: a colour the
camera matrix puts outside sRGB is brought inside keeping its hue (mixed with grey;
a hue-preserving clip for highlights), where LibRaw clips each channel
(``camera_to_output``, reused by other decoders).
The demosaic is Hamilton-Adams for green with colour-difference red and blue, as sharp as
LibRaw's default AHD on photographs (``benchmarks/demosaic.py``) and vectorised with
OpenCV's filters.
Only the layouts ``refusal`` allows (plain 2x2 Bayer, three colours, square pixels, visible
data of the picture's size) are developed here; everything else (X-Trans, Foveon,
four-colour, monochrome, linear DNG, SuperCCD/EXR) stays with LibRaw.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import rawpy
from PIL import Image

from .dng import BAYER_LAYOUTS
from .orientation import Picture, as_image, swaps_axes
from .rawfile import RawFile
from .wide import PROPHOTO_FROM_SRGB, encode_linear

U16 = npt.NDArray[np.uint16]
U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

# Rows developed together: large enough that per-call overhead vanishes, small enough
# that a band of a 60 MP sensor stays a few MB.
_BAND_ROWS = 64
# Rows demosaiced together in a full render: its float32 working planes are the largest
# part of the peak above the result and the sensor data (half those of 64 rows: 5 MB less
# on a 24 MP sensor, for about 2 % more time).
_DEMOSAIC_BAND_ROWS = 32
# Rows of context above and below a band for the demosaic's neighbourhood (even, so
# every band starts on the same colour phase as the sensor).
_MARGIN = 4
_BAYER_LAYOUTS = BAYER_LAYOUTS
# Hamilton and Adams' directional interpolation of green (US patent 5,629,734, expired),
# then red and blue from bilinear colour differences: green at a red or blue pixel is
# estimated along the row and along the column (neighbours' mean, corrected by the
# pixel's own colour curvature), and the direction with the smaller gradient wins, so
# edges are followed instead of averaged across.
_HA_ESTIMATE = np.array([[-0.25, 0.5, 0.5, 0.5, -0.25]], dtype=np.float32)
_HA_STEP = np.array([[1, 0, -1]], dtype=np.float32)
_HA_CURVATURE = np.array([[-1, 0, 2, 0, -1]], dtype=np.float32)
# Bilinear fill of a colour sampled on one pixel in four (zeros elsewhere).
_BILINEAR_QUARTER = np.array(
    [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]], dtype=np.float32
)
# The sRGB curve as LibRaw draws it (power 1/2.4, toe slope 12.92: within 0.003 of an
# 8-bit level of IEC 61966-2-1's); LibRaw's auto-brightness puts the top 1 % of pixels at
# white, and a measured sensor maximum above 75 % of the nominal one replaces it.
_GAMMA_POWER = 1 / 2.4
_GAMMA_SLOPE = 12.92
# The same curve asked of LibRaw's own pipeline: rawpy takes (1 / power, toe slope).
SRGB_GAMMA = (1 / _GAMMA_POWER, _GAMMA_SLOPE)
_AUTO_BRIGHT_THRESHOLD = 0.01
_ADJUST_MAXIMUM = 0.75


Quad = tuple[int, int, int, int]
FloatQuad = tuple[float, float, float, float]


@dataclass(frozen=True)
class _Recipe:
    """Everything a band needs, read from LibRaw before it is closed.

    The quads hold one value per position of the sensor's top-left 2x2 block, row by row.
    """

    pattern: Quad  # colour at each position: 0 red, 1 green, 2 blue
    black: FloatQuad  # black level, in raw units
    scale: FloatQuad  # white balance times the stretch from the raw range to 16 bits
    camera_to_srgb: F32  # 3x3

    def transposed(self) -> _Recipe:
        """The recipe for the mosaic turned about its diagonal (rows become columns)."""
        p, b, s = self.pattern, self.black, self.scale
        return _Recipe(
            (p[0], p[2], p[1], p[3]),
            (b[0], b[2], b[1], b[3]),
            (s[0], s[2], s[1], s[3]),
            self.camera_to_srgb,
        )


# CIE XYZ of linear sRGB's primaries (D65), as LibRaw uses them.
_XYZ_FROM_SRGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)


def developable(raw: RawFile) -> bool:
    """Whether this sensor is of a layout this module renders like LibRaw (``refusal``)."""
    return refusal(raw) is None


def refusal(raw: RawFile) -> str | None:
    """Why the band developer leaves this sensor to LibRaw, or ``None`` when it takes it.

    An allow-list: only a plain 2x2 Bayer mosaic of red, green and blue with square
    pixels, the camera's white balance, a known colour matrix and visible data whose shape
    is the picture's size. Anything else (X-Trans's 6x6 pattern, Foveon's stacked layers,
    four-colour sensors, monochrome, linear DNGs, Fuji SuperCCD/EXR whose picture LibRaw
    turns by 45 degrees so its size is not the data's) is LibRaw's to render.
    """
    libraw = raw.libraw
    if libraw is None:
        return "LibRaw did not open the file"
    try:
        for rule, refused in _LAYOUT_RULES:
            if refused(raw, libraw):
                return rule
    # rawpy raises NotImplementedError for colour layouts it cannot describe.
    except (rawpy.LibRawError, NotImplementedError, AttributeError, ValueError, TypeError) as exc:
        return f"the layout cannot be read ({type(exc).__name__})"
    return None


def _visible_geometry_differs(libraw: Any) -> bool:
    visible = libraw.raw_image_visible
    if visible is None or visible.ndim != 2 or min(visible.shape) < 2:
        return True
    sizes = libraw.sizes
    return tuple(visible.shape) != (int(sizes.height), int(sizes.width))


_Rule = Callable[[RawFile, Any], bool]
# Each rule names what it checks and says True when the sensor fails it; first failure wins.
_LAYOUT_RULES: tuple[tuple[str, _Rule], ...] = (
    ("not three colours", lambda raw, lr: int(lr.num_colors) != 3),
    ("not a flat mosaic", lambda raw, lr: lr.raw_type != rawpy.RawType.Flat),
    ("pixels not square", lambda raw, lr: float(lr.sizes.pixel_aspect) != 1.0),
    ("not a 2x2 Bayer pattern", lambda raw, lr: _pattern(lr) is None),
    ("no colour matrix", lambda raw, lr: _camera_to_srgb(raw) is None),
    # LibRaw's cue to balance automatically
    ("no camera white balance", lambda raw, lr: float(lr.camera_whitebalance[0]) == -1),
    ("visible data not the picture's size", lambda raw, lr: _visible_geometry_differs(lr)),
)


@dataclass(frozen=True)
class SensorData:
    """A Bayer mosaic and what developing it takes, from LibRaw or from another reader.

    The quads hold one value per position of the mosaic's top-left 2x2 block, row by row.
    """

    mosaic: U16  # the visible area
    pattern: Quad  # colour at each position: 0 red, 1 green, 2 blue
    black: FloatQuad  # black level, in raw units
    white: float  # saturation, in raw units
    balance: tuple[float, float, float]  # white balance multipliers for R, G, B
    camera_to_srgb: F32  # 3x3, white-balanced camera colour to linear sRGB


@dataclass(frozen=True)
class Outputs:
    """The output stages a render runs on each band: 8-bit sRGB, 16-bit ProPhoto, or both
    (one demosaic feeds the two)."""

    srgb: bool = True
    wide: bool = False


SRGB_ONLY = Outputs()


@dataclass
class Developed:
    """A render's results: ``srgb`` 8-bit sRGB (a Pillow image, or an H x W x 3 array
    from a half-size render, which resizes faster as one), ``wide`` 16-bit ProPhoto RGB
    (H x W x 3, ``wide`` module's curve); each ``None`` when not asked for."""

    srgb: Picture | None
    wide: U16 | None

    def is_black(self) -> bool:
        if isinstance(self.srgb, Image.Image):
            return self.srgb.getbbox() is None
        if self.srgb is not None:
            return not self.srgb.any()
        return self.wide is None or not self.wide.any()


def develop(raw: RawFile, *, half_size: bool, orientation: int) -> Image.Image:
    """Render the sensor data of ``raw`` to sRGB; its LibRaw handle is closed on the way.

    ``half_size`` merges each 2x2 block into one pixel instead of demosaicing, as
    LibRaw's half-size mode does. ``orientation`` is the EXIF orientation to apply.
    """
    image = develop_outputs(raw, half_size=half_size, orientation=orientation).srgb
    assert image is not None
    return as_image(image)


def develop_outputs(
    raw: RawFile, *, half_size: bool, orientation: int, outputs: Outputs = SRGB_ONLY
) -> Developed:
    """``develop``, with the outputs ``outputs`` asks for."""
    return develop_mosaic(
        _sensor_data(raw),
        half_size=half_size,
        orientation=orientation,
        close=raw.close,
        outputs=outputs,
    )


def develop_mosaic(
    data: SensorData,
    *,
    half_size: bool,
    orientation: int,
    close: Callable[[], None] | None = None,
    outputs: Outputs = SRGB_ONLY,
    release: Callable[[int], None] | None = None,
) -> Developed:
    """Render a Bayer mosaic to sRGB and/or 16-bit ProPhoto, turned by ``orientation`` (EXIF).

    ``close`` frees the buffer the mosaic lives in (LibRaw's): the mosaic is then copied
    to a scratch buffer first, whose used rows are given back band by band. Without it,
    ``release(row)`` (when given) is told, band by band, that the mosaic's rows above
    ``row`` are no longer read (only for orientations that keep rows as rows).
    """
    visible = data.mosaic
    recipe = _recipe(data)
    white = auto_white(_sample_bands(visible, recipe), recipe.camera_to_srgb)
    _set_threads()
    if swaps_axes(orientation):  # develop the turned mosaic: bands then fill rows in order
        visible, recipe = visible.T, recipe.transposed()
    develop_bands = partial(
        _develop_bands,
        recipe=recipe,
        white=white,
        half_size=half_size,
        flip_rows=orientation in (3, 4, 7, 8),
        flip_columns=orientation in (2, 3, 6, 7),
        outputs=outputs,
    )
    if half_size or close is None:  # read the buffer directly
        turned = swaps_axes(orientation)
        try:
            return develop_bands(visible, release=None if turned else release)
        finally:
            if close is not None:
                close()
    with _Scratch(visible) as scratch:
        close()  # the mosaic now lives in the scratch buffer only
        return develop_bands(scratch.rows, release=scratch.release_before)


def _pattern(libraw: Any) -> Quad | None:
    """The colours of the visible area's top-left 2x2 block, or None if not Bayer RGB."""
    desc = bytes(libraw.color_desc).decode("ascii", "replace")
    pattern = np.asarray(libraw.raw_pattern)
    if desc[:3] != "RGB" or pattern.shape != (2, 2):
        return None
    # LibRaw numbers the second green of an RGBG sensor 3; its letter is still G.
    c = ["RGB".find(desc[int(i)]) if int(i) < len(desc) else -1 for i in pattern.flat]
    quad = (c[0], c[1], c[2], c[3])
    return quad if quad in _BAYER_LAYOUTS else None


def _camera_to_srgb(raw: RawFile) -> F32 | None:
    """LibRaw's camera-to-sRGB matrix (``rgb_cam``), which rawpy does not expose.

    A DNG's own matrix when it has one, else the inverse of the camera's XYZ matrix with
    each row scaled so that white stays white; None when LibRaw knows neither.
    """
    libraw = raw.libraw
    assert libraw is not None
    embedded = np.asarray(libraw.color_matrix, dtype=np.float64)[:, :3]
    if raw.format == "DNG" and embedded[0, 0] > 0.125:
        return embedded.astype(np.float32)
    return camera_to_srgb_from_xyz(np.asarray(libraw.rgb_xyz_matrix, dtype=np.float64)[:3])


def camera_to_srgb_from_xyz(camera_from_xyz: npt.NDArray[np.float64]) -> F32 | None:
    """LibRaw's ``cam_xyz_coeff``: the inverse of the camera's XYZ matrix (3x3) taken to
    sRGB, each row scaled so that white stays white; None when it has no inverse."""
    camera_from_srgb = camera_from_xyz @ _XYZ_FROM_SRGB
    sums = camera_from_srgb.sum(axis=1, keepdims=True)
    if not np.all(sums > 1e-5):
        return None
    try:
        return np.linalg.inv(camera_from_srgb / sums).astype(np.float32)
    except np.linalg.LinAlgError:
        return None


def _sensor_data(raw: RawFile) -> SensorData:
    """LibRaw's visible mosaic, levels, white balance and colour matrix."""
    libraw = raw.libraw
    assert libraw is not None
    pattern = _pattern(libraw)
    matrix = _camera_to_srgb(raw)
    assert pattern is not None and matrix is not None
    indices = [int(i) for i in np.asarray(libraw.raw_pattern).flat]
    levels = [float(v) for v in libraw.black_level_per_channel]
    black = [levels[i] for i in indices]
    balance = _white_balance(libraw)
    return SensorData(
        libraw.raw_image_visible,
        pattern,
        (black[0], black[1], black[2], black[3]),
        float(libraw.white_level),
        (balance[0], balance[1], balance[2]),
        np.ascontiguousarray(matrix),
    )


def _recipe(data: SensorData) -> _Recipe:
    white = data.white
    measured = float(data.mosaic.max())
    if white * _ADJUST_MAXIMUM < measured < white:
        white = measured
    balance = data.balance
    scale = [
        balance[c] / min(balance) * 65535.0 / max(1.0, white - b)
        for c, b in zip(data.pattern, data.black, strict=True)
    ]
    return _Recipe(
        data.pattern,
        data.black,
        (scale[0], scale[1], scale[2], scale[3]),
        np.ascontiguousarray(data.camera_to_srgb, dtype=np.float32),
    )


def _white_balance(libraw: Any) -> list[float]:
    """The camera's white balance for R, G, B; the daylight one when it has none."""
    for source in (libraw.camera_whitebalance, libraw.daylight_whitebalance):
        balance = [float(v) for v in list(source)[:3]]
        if min(balance) > 0:
            return balance
    return [1.0, 1.0, 1.0]


def _sample_bands(visible: U16, recipe: _Recipe) -> Iterator[F32]:
    """Every other 2x2 block of the mosaic merged into one pixel, band by band.

    The histogram of these gives LibRaw's auto-brightness level at a fraction of the cost
    of counting every rendered pixel, and never needs memory of its own.
    """
    height, width = visible.shape[0] // 4 * 4, visible.shape[1] // 4 * 4
    for top in range(0, height, _BAND_ROWS * 4):
        yield _superpixels(visible[top : min(height, top + _BAND_ROWS * 4), :width], recipe, step=4)


def auto_white(bands: Iterable[U16 | F32], camera_to_srgb: F32) -> int:
    """LibRaw's auto-brightness white point for linear camera RGB given band by band.

    LibRaw takes the 16-bit level below which 99 % of the rendered pixels lie in each
    channel (the linear sRGB values clipped to 16 bits, before gamut mapping and curve).
    ``bands`` are white-balanced camera RGB scaled to 16 bits, as ``camera_to_output``
    takes them; a sample of the picture's pixels gives the same level.
    """
    counts = np.zeros((3, 0x2000), dtype=np.int64)
    for band in bands:
        linear = np.clip(_linear_srgb(band, camera_to_srgb), 0, 65535).astype(np.uint16)
        levels = linear.reshape(-1, 3) >> 3
        for channel in range(3):
            counts[channel] += np.bincount(levels[:, channel], minlength=0x2000)[:0x2000]
    threshold = counts[0].sum() * _AUTO_BRIGHT_THRESHOLD
    white = 32  # LibRaw's floor
    for channel in range(3):
        from_top = np.cumsum(counts[channel][::-1])
        if from_top[-1] > threshold:
            white = max(white, 0x1FFF - int(np.argmax(from_top > threshold)))
    return white << 3


def _superpixels(mosaic: U16, recipe: _Recipe, *, step: int) -> F32:
    """One RGB pixel per 2x2 block (every ``step // 2``-th block), scaled to 16 bits.

    Whole 16-bit levels (clipped, then truncated as a conversion to 16 bits would), in
    floating point for the colour matrix. Each colour is made as one contiguous plane and
    the three interleaved once.
    """
    rows = mosaic.shape[0] // step
    cols = mosaic.shape[1] // step
    planes: list[F32 | None] = [None, None, None]
    for position, colour in enumerate(recipe.pattern):
        dy, dx = divmod(position, 2)
        plane = mosaic[dy::step, dx::step][:rows, :cols].astype(np.float32)
        weight = 0.5 if colour == 1 else 1.0  # the two greens are averaged
        plane -= recipe.black[position]
        plane *= recipe.scale[position] * weight
        current = planes[colour]
        if current is None:
            planes[colour] = plane
        else:
            current += plane
    merged: list[F32] = []
    for made in planes:
        assert made is not None  # a Bayer pattern has every colour
        np.clip(made, 0, 65535, out=made)
        merged.append(np.trunc(made, out=made))
    return np.asarray(cv2.merge(merged))


@lru_cache(maxsize=16)
def _tone_curve(white: int) -> U8:
    """LibRaw's ``gamma_curve(1/2.4, 12.92, 2, white)`` as a 16-bit to 8-bit lookup table.

    The sRGB curve: linear toe of slope 12.92, then a power of 1/2.4, joined where both
    meet with matching value and slope (LibRaw finds the joint by bisection: 0.00304 and
    an offset of 0.05501, against the standard's rounded 0.0031308 and 0.055); ``white``
    maps to 255.
    """
    power, slope = _GAMMA_POWER, _GAMMA_SLOPE
    bounds = [0.0, 1.0]  # the bisection LibRaw runs for the joining point
    join = 0.0
    for _ in range(48):
        join = (bounds[0] + bounds[1]) / 2
        bounds[int(((join / slope) ** -power - 1) / power - 1 / join > -1)] = join
    toe_end = join / slope
    offset = join * (1 / power - 1)
    r = np.arange(0x10000, dtype=np.float64) / max(1, white)
    curve = np.where(
        r < toe_end, r * slope, np.power(np.minimum(r, 1.0), power) * (1 + offset) - offset
    )
    curve16 = np.where(r < 1, np.floor(0x10000 * curve), 0xFFFF)
    return (np.clip(curve16, 0, 0xFFFF).astype(np.uint32) >> 8).astype(np.uint8)


class _Scratch:
    """A private copy of the mosaic in anonymous memory whose used rows can be dropped.

    Pages given back with ``MADV_DONTNEED`` leave the resident set at once, whatever the
    allocator would have done with a freed numpy array.
    """

    def __init__(self, mosaic: U16) -> None:
        self.shape = mosaic.shape
        private = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS  # shared pages would outlive madvise
        self._map = mmap.mmap(-1, max(1, mosaic.size * 2), flags=private)
        self.rows: U16 = np.frombuffer(self._map, dtype=np.uint16, count=mosaic.size).reshape(
            mosaic.shape
        )
        for start in range(0, mosaic.shape[0], _BAND_ROWS):
            self.rows[start : start + _BAND_ROWS] = mosaic[start : start + _BAND_ROWS]
        self._released = 0

    def release_before(self, row: int) -> None:
        """Give back the pages holding only rows above ``row``."""
        end = row * self.shape[1] * 2 // mmap.PAGESIZE * mmap.PAGESIZE
        if end > self._released:
            self._map.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
            self._released = end

    def __enter__(self) -> _Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        del self.rows
        # A view that outlives us in a traceback keeps the map alive until it goes.
        with contextlib.suppress(BufferError):
            self._map.close()


def _develop_bands(
    mosaic: U16,
    *,
    release: Callable[[int], None] | None,
    recipe: _Recipe,
    white: int,
    half_size: bool,
    flip_rows: bool,
    flip_columns: bool,
    outputs: Outputs,
) -> Developed:
    height, width = mosaic.shape
    factor = 2 if half_size else 1
    out_height, out_width = height // factor, width // factor
    if half_size:
        height, width = out_height * 2, out_width * 2
    # Pages of either result are touched as bands land. A half-size result stays an array
    # (the engine resizes arrays with OpenCV); a full-size one is the image the encoder
    # takes, so that it is never copied.
    result: Image.Image | U8 | None = None
    if outputs.srgb:
        result = (
            np.empty((out_height, out_width, 3), np.uint8)
            if half_size
            else Image.new("RGB", (out_width, out_height), None)
        )
    wide = np.empty((out_height, out_width, 3), np.uint16) if outputs.wide else None
    black_rows, scale_rows = _phase_rows(recipe, width)
    step = _BAND_ROWS if half_size else _DEMOSAIC_BAND_ROWS

    def develop_band(top: int) -> None:
        bottom = min(height, top + step)
        linear: U16 | F32 = (
            _superpixels(mosaic[top:bottom, :width], recipe, step=2)
            if half_size
            else _demosaic_band(mosaic, top, bottom, recipe, black_rows, scale_rows)
        )
        row = top // factor
        rows = linear.shape[0]
        y = out_height - row - rows if flip_rows else row
        if wide is not None:
            wide[y : y + rows] = _flipped(
                camera_to_wide(linear, recipe.camera_to_srgb, white), flip_rows, flip_columns
            )
        if result is not None:
            band = camera_to_output(linear, recipe.camera_to_srgb, white)
            band = _flipped(band, flip_rows, flip_columns)
            if isinstance(result, Image.Image):
                result.paste(Image.fromarray(np.ascontiguousarray(band)), (0, y))
            else:
                result[y : y + rows] = band

    def done(top: int) -> None:
        if release is not None:
            release(min(height, top + step) - _MARGIN)

    # A half-size band is a few light array operations, which hold the GIL between them
    # about as long as they run: side by side they were no faster (measured at 24 MP).
    threads = 1 if half_size else allowed_threads()
    _in_bands(range(0, height, step), develop_band, done, threads)
    return Developed(result, wide)


def _in_bands(
    tops: range, develop_band: Callable[[int], None], done: Callable[[int], None], threads: int
) -> None:
    """Each band developed, ``done`` told of each in order from the top.

    With more than one thread (``allowed_threads``: ``OMP_NUM_THREADS``, as LibRaw's
    OpenMP), bands are developed side by side: each writes rows of its own, and numpy and
    OpenCV release the GIL over a band's arrays. ``done`` follows the bands in order, so a
    row is only given back once every band above it is finished. OpenCV's own threads are
    off meanwhile, so the threads do not multiply."""
    if threads <= 1 or len(tops) < 2:
        for top in tops:
            develop_band(top)
            done(top)
        return
    opencv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="develop") as pool:
            pending: deque[tuple[int, Future[None]]] = deque()
            for top in tops:
                pending.append((top, pool.submit(develop_band, top)))
                if len(pending) > 2 * threads:
                    first, future = pending.popleft()
                    future.result()
                    done(first)
            while pending:
                first, future = pending.popleft()
                future.result()
                done(first)
    finally:
        cv2.setNumThreads(opencv_threads)


def _flipped(band: U8 | U16, flip_rows: bool, flip_columns: bool) -> Any:
    if flip_columns:
        band = band[:, ::-1]
    if flip_rows:
        band = band[::-1]
    return band


def _phase_rows(recipe: _Recipe, width: int) -> tuple[F32, F32]:
    """Black level and scale per pixel for two rows, the sensor's repeating 2x2 pattern."""
    black = np.empty((2, width), dtype=np.float32)
    scale = np.empty((2, width), dtype=np.float32)
    for position in range(4):
        dy, dx = divmod(position, 2)
        black[dy, dx::2] = recipe.black[position]
        scale[dy, dx::2] = recipe.scale[position]
    return black, scale


def _demosaic_band(
    rows: U16, top: int, bottom: int, recipe: _Recipe, black_rows: F32, scale_rows: F32
) -> F32:
    """Rows ``top:bottom`` demosaiced, in linear camera colour scaled to 16 bits."""
    start = max(0, top - _MARGIN)
    stop = min(rows.shape[0], bottom + _MARGIN)
    mosaic = rows[start:stop].astype(np.float32)
    for phase in (0, 1):  # start is even, so row phase follows the sensor
        mosaic[phase::2] -= black_rows[phase]
        mosaic[phase::2] *= scale_rows[phase]
    np.clip(mosaic, 0, 65535, out=mosaic)  # highlights clipped, as LibRaw does
    green = _green_plane(mosaic, recipe.pattern)
    inner = slice(top - start, bottom - start)  # the band without its context rows
    planes = [green[inner], green[inner], green[inner]]
    for colour in (0, 2):
        difference = np.zeros_like(mosaic)
        for position in range(4):
            if recipe.pattern[position] == colour:
                dy, dx = divmod(position, 2)
                site = (slice(dy, None, 2), slice(dx, None, 2))
                difference[site] = mosaic[site] - green[site]
        planes[colour] = green[inner] + _filter(difference, _BILINEAR_QUARTER)[inner]
    band: F32 = np.asarray(cv2.merge(planes))
    return band


def _green_plane(mosaic: F32, pattern: Quad) -> F32:
    """Green everywhere: the sensor's own at green pixels, Hamilton-Adams elsewhere."""
    gradient_across, gradient_down = (
        _absolute_sum(_filter(mosaic, step), _filter(mosaic, curvature))
        for step, curvature in ((_HA_STEP, _HA_CURVATURE), (_HA_STEP.T, _HA_CURVATURE.T))
    )
    estimate = _filter(mosaic, _HA_ESTIMATE)
    # OpenCV's masked copy: a seventh of the time of numpy's ``copyto(where=...)`` here.
    down = cv2.compare(gradient_down, gradient_across, cv2.CMP_LT)
    green: F32 = np.asarray(cv2.copyTo(_filter(mosaic, _HA_ESTIMATE.T), down, estimate))
    for position, colour in enumerate(pattern):
        if colour == 1:  # the sensor's own green; the estimate at red and blue
            dy, dx = divmod(position, 2)
            site = (slice(dy, None, 2), slice(dx, None, 2))
            green[site] = mosaic[site]
    return np.clip(green, 0, 65535, out=green)


def _absolute_sum(a: F32, b: F32) -> F32:
    """``|a| + |b|``, in place in ``a``."""
    np.abs(a, out=a)
    a += np.abs(b, out=b)
    return a


def _filter(image: F32, kernel: F32) -> F32:
    """Correlate with ``kernel``; mirroring about the edge pixel keeps the colour phase."""
    return np.asarray(cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101))


def camera_to_output(camera_rgb: U16 | F32, camera_to_srgb: F32, white: int) -> U8:
    """Linear camera RGB to 8-bit sRGB, the output stage of every sensor render.

    ``camera_rgb`` is white-balanced camera RGB scaled to 16 bits (H x W x 3),
    ``camera_to_srgb`` the 3x3 matrix to linear sRGB, ``white`` the linear 16-bit level
    shown as 255 (``auto_white``'s). Colours the matrix puts outside the displayable range
    are brought inside keeping their hue (``fit_to_gamut``); then the sRGB curve.
    """
    planes = fit_planes_to_gamut(_split(_linear_srgb(camera_rgb, camera_to_srgb)), white)
    curve = _tone_curve(white)
    # OpenCV 5 looks 16-bit indices up in a 65536-entry table (a fifth of numpy's
    # ``take``), each plane's straight into its channel of the result. One index buffer
    # and no merge: fewer temporaries, which kept every benchmark row's peak at or below
    # the interleaved stage's (a merge of the 8-bit planes left 10 MB more at 12 MP).
    index = np.empty(planes[0].shape, np.uint16)
    encoded = np.empty((*index.shape, 3), np.uint8)
    for channel, plane in enumerate(planes):
        np.copyto(index, np.clip(plane, 0, 65535, out=plane), casting="unsafe")
        encoded[..., channel] = cv2.LUT(index, curve)
    return encoded


def camera_to_wide(camera_rgb: U16 | F32, camera_to_srgb: F32, white: int) -> U16:
    """Linear camera RGB to 16-bit ProPhoto RGB, the wide output stage (``tiff16``).

    The same steps as ``camera_to_output`` with the same ``white``, so the two look
    alike: the matrix to linear sRGB, then to ProPhoto (``wide``), colours outside
    ProPhoto brought inside keeping their hue, highlights above ``white`` clipped keeping
    their hue, and the ProPhoto curve to 16 bits.
    """
    matrix = (PROPHOTO_FROM_SRGB @ np.asarray(camera_to_srgb, np.float32)).astype(np.float32)
    rgb = _linear_srgb(camera_rgb, matrix)
    fit_to_gamut(rgb, float(white))
    return encode_linear(rgb, float(white))


def fit_to_gamut(rgb: F32, white: float) -> F32:
    """Bring every colour of ``rgb`` (linear sRGB, H x W x 3, contiguous) inside
    ``[0, white]`` without turning its hue, in place.

    - A colour with a channel below 0 is more saturated than sRGB's primaries can show (a
      violet stage light, a laser green). Grey is mixed in until that channel is 0 and the
      colour scaled so its largest channel stays as bright: in linear light this keeps the
      dominant wavelength, so violet stays violet where clipping the channel turns it
      blue. (Chroma reduction at constant Oklab lightness and hue, as CSS Color 4 does,
      was tried: the colours camera matrices put far outside the spectral locus have no
      meaningful Oklab hue, and a blue-lit stage came out teal and dark.)
    - A colour (then) with every channel at least 0 but one above ``white`` is brighter than the
      display's white in that channel. The largest channel goes to ``white``, the smallest
      is clipped as LibRaw clips it, and the middle one keeps its place between them (the
      hue-preserving clip of the DNG SDK's RGB tone curve): a colour with every channel
      above white still becomes white, as clipped highlights must, and a bright orange
      does not turn yellow.

    Colours inside are left exactly as they are. The lift runs over the whole band, plane by
    plane (a colour inside moves by exactly 0 and is scaled by exactly 1), as a share of a
    photo's pixels, its shadows' noise, always has a channel below 0; the highlight clip,
    rarer, only on the colours above white.
    """
    planes = _split(rgb)
    fit_planes_to_gamut(planes, white)
    cv2.merge(planes, dst=rgb)
    return rgb


def fit_planes_to_gamut(planes: list[F32], white: float) -> list[F32]:
    """``fit_to_gamut`` on the three colour planes of a band (each H x W), in place.

    The output stages work on planes: OpenCV takes each whole, and the colours need not be
    interleaved again between the steps.
    """
    low, high = _plane_min(planes), _plane_max(planes)
    if np.any(low < 0):
        # The whole band at once, one plane at a time: a colour inside has no channel to
        # lift (``shift`` 0) and keeps its brightness (``keep`` exactly 1), so it comes out
        # as it went in; gathering the others was slower at the shares photos have.
        shift = np.minimum(low, 0, out=low)
        spread = high - shift
        keep = np.divide(high, spread, out=np.zeros_like(high), where=high > 0)
        for plane in planes:
            plane -= shift
            plane *= keep
        low, high = _plane_min(planes), _plane_max(planes)
    bright = np.greater(high, white).view(np.uint8)  # a mask OpenCV takes: 1 where bright
    count = np.count_nonzero(bright)
    if not count:
        return planes
    if count > high.size * _BRIGHT_SHARE_BANDWIDE:
        # Many colours above white (a sky, a lamp): computed over the whole band and
        # copied where bright, which is faster than gathering them.
        floor, spread = _clip_factors(low, high, white)
        for plane in planes:
            cv2.copyTo(floor + (plane - low) * spread, bright, plane)
        return planes
    where = np.flatnonzero(bright)
    low, high = low.ravel()[where], high.ravel()[where]
    floor, spread = _clip_factors(low, high, white)
    for plane in planes:
        flat = plane.reshape(-1)
        flat[where] = floor + (flat[where] - low) * spread
    return planes


# Above this share of a band's colours over white, the highlight clip runs band-wide.
_BRIGHT_SHARE_BANDWIDE = 1 / 8


def _plane_min(planes: list[F32]) -> F32:
    return _as_f32(cv2.min(cv2.min(planes[0], planes[1]), planes[2]))


def _plane_max(planes: list[F32]) -> F32:
    return _as_f32(cv2.max(cv2.max(planes[0], planes[1]), planes[2]))


def _clip_factors(low: F32, high: F32, white: float) -> tuple[F32, F32]:
    """The hue-preserving highlight clip of colours whose smallest and largest channels
    are ``low`` and ``high`` (no channel below 0): each channel ``c`` becomes
    ``floor + (c - low) * spread``. The largest goes to ``white``, the smallest is clipped
    to ``white`` and the middle one keeps its relative place between the two, so the hue
    (which channel leads, and by how much) stays."""
    floor = np.minimum(low, white)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = _as_f32(np.where(high > low, (white - floor) / (high - low), 0))
    return floor, spread


def _split(rgb: F32) -> list[F32]:
    """The colour planes of ``rgb`` (H x W x 3), contiguous. Into planes made here: OpenCV
    making its own takes three times as long."""
    planes = [np.empty(rgb.shape[:2], np.float32) for _ in range(3)]
    cv2.split(rgb, planes)
    return planes


def _as_f32(array: Any) -> F32:
    return np.asarray(array, dtype=np.float32)


def _linear_srgb(rgb: U16 | F32, camera_to_srgb: F32) -> F32:
    """Camera RGB to linear sRGB in floating point, so colours outside sRGB survive."""
    return np.asarray(cv2.transform(np.asarray(rgb, dtype=np.float32), camera_to_srgb))


def allowed_threads() -> int:
    """As many threads as LibRaw's OpenMP would use (``OMP_NUM_THREADS``, else one per
    core), so parallel workers share the cores."""
    threads = os.environ.get("OMP_NUM_THREADS", "")
    return int(threads) if threads.isdigit() and int(threads) > 0 else (os.cpu_count() or 1)


def _set_threads() -> None:
    """OpenCV's threads as LibRaw's OpenMP would use them."""
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        cv2.setNumThreads(int(threads))
