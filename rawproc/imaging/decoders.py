"""Which decoder unpacks a file's sensor data: the fastest one proven equal to LibRaw.

LibRaw reads every format the engine supports, but unpacks some of them several times
slower than flashraw (a Rust decoder: 22 ms against 259 ms for a 20 MP packed DNG on one
core). A decoder serves only the kinds of file where the test suite proves it gives what
LibRaw gives (``tests/imaging/test_decoders.py``): the raw samples bit for bit, and the
black and white levels, white balance and colour matrix the development uses. Everything
else, and every file where flashraw raises, refuses or returns another shape, stays with
LibRaw; JPEG XL, floating-point and linear DNGs keep the engine's own reader
(``dng_kinds``), which ``open_raw`` picks before any of this.

Served by flashraw today: Bayer DNGs whose raw image is uncompressed (packed or not) or
lossless JPEG, with one colour matrix, a uniform black level, the camera's white balance
and no opcodes. ``docs/engine.md`` has the table per kind.
"""

from __future__ import annotations

import ctypes
import logging
import mmap
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .develop import SensorData, allowed_threads, camera_to_srgb_from_xyz
from .rawfile import RawFile

LIBRAW = "libraw"
FLASHRAW = "flashraw"
# The engine's own DNG reader (``dng_kinds``: JPEG XL, floating-point and linear DNGs).
ENGINE = "rawproc"

# (format, compression) of the kinds where flashraw's raw samples and calibration are
# proven equal to LibRaw's; flashraw's names for the compressions.
FLASHRAW_KINDS: frozenset[tuple[str, str]] = frozenset(
    {("DNG", "uncompressed"), ("DNG", "lossless-jpeg")}
)
# The container formats among them: a file of any other format never opens flashraw.
_FLASHRAW_FORMATS = frozenset(served for served, _ in FLASHRAW_KINDS)
_CFA_COLOURS = {"R": 0, "G": 1, "B": 2}
_BAYER_CFAS = frozenset({"RGGB", "BGGR", "GRBG", "GBRG"})

log = logging.getLogger(__name__)

_PAGE = mmap.PAGESIZE
_MADV_DONTNEED = 4
_libc = ctypes.CDLL(None, use_errno=True)
_libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)


def _madvise(address: int, length: int, advice: int) -> None:
    _libc.madvise(address, length, advice)


U16 = npt.NDArray[np.uint16]
# Rows of the sensor decoded together when the file is read from disk (``_bands``).
_MIN_BAND_ROWS = 256


@dataclass(frozen=True)
class FileKind:
    """What decides which decoder may serve a file."""

    format: str
    compression: str
    layout: str
    cfa: str | None
    bits: int

    def __str__(self) -> str:
        return f"{self.format} {self.compression} {self.layout} {self.cfa or '-'} {self.bits}-bit"


@dataclass(frozen=True)
class Unpacked:
    """Sensor data unpacked by a decoder other than LibRaw, ready for ``develop_mosaic``.

    ``sensor.mosaic`` is a view of the decoder's buffer (LibRaw's visible area); ``facts``
    are the metadata record's ``raw`` fields LibRaw would have given after its unpack.
    """

    sensor: SensorData
    decoder: str
    kind: FileKind
    facts: dict[str, Any]
    top: int = 0  # rows of the decoder's buffer above the visible area
    buffer: U16 | None = None  # the decoder's whole buffer, of which the mosaic is a view

    def release_before(self, row: int) -> None:
        """Give the pages holding only the buffer's rows above visible ``row`` back to the
        kernel, as a full render no longer reads them (the buffer is the decoder's
        allocation, larger than any allocator keeps on its heap, so it is its own map)."""
        buffer = self.buffer
        if buffer is None or not buffer.flags.c_contiguous:
            return
        start = buffer.ctypes.data
        end = start + (self.top + row) * buffer.strides[0]
        first = -(-start // _PAGE) * _PAGE
        last = min(end, start + buffer.nbytes) // _PAGE * _PAGE
        if last > first:
            _madvise(first, last - first, _MADV_DONTNEED)


class Refused(Exception):
    """The faster decoder does not serve this file; LibRaw does."""


def kind_of(metadata: Any) -> FileKind:
    """The kind of a file from flashraw's metadata (read without decoding)."""
    cfa = metadata.cfa.pattern if metadata.cfa is not None else None
    return FileKind(
        str(metadata.format).upper(),
        str(metadata.compression),
        str(metadata.layout),
        cfa,
        int(metadata.bits_per_sample),
    )


def flashraw_serves(kind: FileKind) -> bool:
    """Whether flashraw is proven equal to LibRaw on this kind of file."""
    return (kind.format, kind.compression) in FLASHRAW_KINDS and kind.cfa in _BAYER_CFAS


def unpack_sensor(raw: RawFile) -> Unpacked | None:
    """The sensor data from flashraw when it serves this file, else ``None`` (LibRaw then
    unpacks). Never raises for flashraw's sake: any refusal or error is logged."""
    if raw.libraw is None or raw.dng is not None or raw.format not in _FLASHRAW_FORMATS:
        return None
    # Imported here: a file of a format flashraw never serves does not load it.
    import flashraw

    try:
        return _flashraw_unpack(raw)
    except Refused as exc:
        log.debug("%s: LibRaw unpacks the sensor data: %s", raw.name, exc)
    except (flashraw.FlashRawError, OSError, ValueError, TypeError, AttributeError) as exc:
        log.info("%s: flashraw failed, LibRaw unpacks the sensor data: %r", raw.name, exc)
    return None


def _flashraw_unpack(raw: RawFile) -> Unpacked:
    import flashraw

    source = _source(raw)
    with flashraw.open(source) as fr:
        meta = fr.metadata
        kind = kind_of(meta)
        if not flashraw_serves(kind):
            raise Refused(f"kind not proven: {kind}")
        calibration = _calibration(meta)
        _check_libraw_layout(raw.libraw)
        bands = (
            _bands(fr.tiles, int(meta.raw_height), uncompressed=kind.compression == "uncompressed")
            if isinstance(source, str)
            else []
        )
        if len(bands) < 2:
            frame = fr.decode("raw-u16", threads=allowed_threads())
            samples, warnings = frame.array, list(frame.warnings)
    if len(bands) >= 2 and isinstance(source, str):
        samples, warnings = _decode_in_bands(source, bands, int(meta.raw_width))
    assert raw.libraw is not None
    sizes = raw.libraw.sizes
    if samples.dtype != np.uint16 or samples.shape != (sizes.raw_height, sizes.raw_width):
        raise Refused(f"flashraw gave {samples.dtype} {samples.shape}, LibRaw's sensor is "
                      f"{sizes.raw_width}x{sizes.raw_height}")  # fmt: skip
    if warnings:
        raise Refused(f"flashraw reports incomplete data: {warnings[0]}")
    top, left = int(sizes.top_margin), int(sizes.left_margin)
    visible: U16 = samples[top : top + int(sizes.height), left : left + int(sizes.width)]
    pattern = _pattern(kind.cfa, top, left)
    black, white, balance, matrix = calibration
    sensor = SensorData(visible, pattern, (black,) * 4, white, balance, matrix)
    return Unpacked(sensor, FLASHRAW, kind, _facts(pattern, black, white, balance), top, samples)


def _bands(tiles: Any, height: int, *, uncompressed: bool = False) -> list[tuple[int, int]]:
    """Bands of whole rows of tiles (or strips), at least ``_MIN_BAND_ROWS`` tall, covering
    the sensor from top to bottom; empty when the tiles do not line up in rows. Uncompressed
    samples are read where they lie, so any rows make a band."""
    edges = sorted({int(t.rect.y) for t in tiles} | {int(t.rect.y + t.rect.height) for t in tiles})
    if uncompressed:
        edges = sorted({*range(0, height, _MIN_BAND_ROWS), height})
    if not edges or edges[0] != 0 or edges[-1] != height:
        return []
    bands: list[tuple[int, int]] = []
    top = 0
    for edge in edges[1:]:
        if edge - top >= _MIN_BAND_ROWS or edge == height:
            bands.append((top, edge - top))
            top = edge
    return bands


def _decode_in_bands(path: str, bands: list[tuple[int, int]], width: int) -> tuple[U16, list[Any]]:
    """The raw samples of a file given by path, decoded a band of rows at a time into one
    buffer. flashraw maps the file while it is open: decoding it whole keeps every page of
    the file resident beside the samples (25 MB for a 24 MP lossless-JPEG DNG, 35 MB for a
    20 MP packed one); opened again for each band, only that band's pages are."""
    import flashraw

    samples: U16 = np.empty((bands[-1][0] + bands[-1][1], width), np.uint16)
    warnings: list[Any] = []
    for top, rows in bands:
        with flashraw.open(path) as fr:
            frame = fr.decode_region((0, top, width, rows), "raw-u16", threads=allowed_threads())
        band = frame.array
        if band.dtype != np.uint16 or band.shape != (rows, width):
            raise Refused(f"flashraw gave {band.dtype} {band.shape} for rows {top}-{top + rows}")
        samples[top : top + rows] = band
        warnings += frame.warnings
        del frame, band
    return samples, warnings


def _source(raw: RawFile) -> str | bytes:
    content = raw.content
    return content if isinstance(content, bytes) else str(content)


Calibration = tuple[float, float, tuple[float, float, float], npt.NDArray[np.float32]]


def _calibration(meta: Any) -> Calibration:
    """Black, white, white balance and camera-to-sRGB matrix, where they are LibRaw's."""
    if meta.opcodes:
        raise Refused("the DNG has opcodes (LibRaw applies them to the raw image)")
    matrices = meta.color_matrices
    if len(matrices.color) != 1 or matrices.forward or matrices.calibration:
        raise Refused("not exactly one colour matrix without forward or calibration matrices")
    if matrices.analog_balance and any(abs(v - 1) > 1e-9 for v in matrices.analog_balance):
        raise Refused("analog balance")
    black_level = meta.black_level
    values = set(black_level.values)
    if len(values) != 1 or black_level.row_deltas or black_level.col_deltas:
        raise Refused("black level not uniform")
    black = values.pop()
    if black != int(black):
        raise Refused("black level not whole")
    if len(set(meta.white_level)) != 1:
        raise Refused("white level not uniform")
    balance = meta.white_balance
    if balance is None or meta.white_balance_applied or min(balance[:3]) <= 0:
        raise Refused("no camera white balance")
    colour = matrices.color[0]
    if colour.rows != 3 or len(colour.values) != 9:
        raise Refused("colour matrix not 3x3")
    matrix = camera_to_srgb_from_xyz(np.asarray(colour.values, dtype=np.float64).reshape(3, 3))
    if matrix is None:
        raise Refused("colour matrix cannot be inverted")
    return (
        float(black),
        float(meta.white_level[0]),
        # LibRaw holds the multipliers as 32-bit floats
        (
            float(np.float32(balance[0])),
            float(np.float32(balance[1])),
            float(np.float32(balance[2])),
        ),
        matrix,
    )


def _f32(value: float) -> float:
    return float(np.float32(value))


def _check_libraw_layout(libraw: Any) -> None:
    """LibRaw's header facts the band developer needs (read without unpacking)."""
    if int(libraw.num_colors) != 3 or float(libraw.sizes.pixel_aspect) != 1.0:
        raise Refused("not a three-colour sensor with square pixels")


def _pattern(cfa: str | None, top: int, left: int) -> tuple[int, int, int, int]:
    """The colours of the visible area's top-left 2x2 block."""
    assert cfa is not None and len(cfa) == 4
    grid = [
        [_CFA_COLOURS[cfa[0]], _CFA_COLOURS[cfa[1]]],
        [_CFA_COLOURS[cfa[2]], _CFA_COLOURS[cfa[3]]],
    ]
    c = [grid[(top + dy) % 2][(left + dx) % 2] for dy in (0, 1) for dx in (0, 1)]
    return (c[0], c[1], c[2], c[3])


def _facts(
    pattern: tuple[int, int, int, int],
    black: float,
    white: float,
    balance: tuple[float, float, float],
) -> dict[str, Any]:
    """The metadata record's sensor facts, as LibRaw gives them after unpacking a DNG."""
    return {
        "cfa_pattern": "".join("RGB"[c] for c in pattern),
        "black_level": [int(black)] * 4,
        "white_level": int(white),
        "camera_wb": [round(v / balance[1], 6) for v in balance] + [0.0],
    }
