"""Decoding the samples of a DNG's raw image, tile by tile (strips are tiles as wide as
the image): uncompressed, Deflate (with TIFF's and DNG's horizontal and floating-point
predictors) and JPEG XL (DNG 1.7, with row and column interleave undone per tile).

The result is the raw image as stored, H x W x samples, in its own sample type (uint8,
uint16, uint32, or float32 for 16-, 24- and 32-bit floats). Nothing is developed here.
A chunk past the end of the file is ``SensorDataUnusable`` (cut off), a chunk that does
not decode or has the wrong size is ``SensorDataUnusable`` (unreadable): the engine then
renders from the embedded preview. Decompressed sizes are bounded by the tile's.
"""

from __future__ import annotations

import mmap
import zlib

import imagecodecs
import numpy as np
import numpy.typing as npt

from .dng import (
    DEFLATE,
    FLOAT_PREDICTORS,
    HORIZONTAL_PREDICTORS,
    JPEG_XL,
    SAMPLE_FLOAT,
    UNCOMPRESSED,
    RawImage,
)
from .errors import SENSOR_DATA_CUT_OFF, SENSOR_DATA_UNREADABLE, SensorDataUnusable

Samples = npt.NDArray[np.generic]
Buffer = bytes | mmap.mmap

# The sample types read, by (SampleFormat, BitsPerSample).
_DTYPES: dict[tuple[int, int], str] = {
    (1, 8): "u1",
    (1, 16): "u2",
    (1, 32): "u4",
    (3, 16): "f2",
    (3, 24): "f3",  # DNG's 24-bit float: sign, 7-bit exponent, 16-bit mantissa
    (3, 32): "f4",
}
_COMPRESSIONS = (UNCOMPRESSED, DEFLATE, JPEG_XL)


def supported(image: RawImage) -> bool:
    """Whether ``read_samples`` can decode this storage (type, compression, predictor)."""
    if (image.sample_format, image.bits) not in _DTYPES or image.compression not in _COMPRESSIONS:
        return False
    if image.compression == DEFLATE:
        return image.predictor in (1, *HORIZONTAL_PREDICTORS, *FLOAT_PREDICTORS)
    return image.predictor == 1 and (image.bits != 24 or image.compression == DEFLATE)


def read_samples(data: Buffer, image: RawImage, name: str) -> Samples:
    """The raw image's samples, H x W x samples, in the sample type it stores."""
    if not supported(image):
        raise _unreadable(
            name,
            f"raw image storage not read: compression {image.compression}, predictor "
            f"{image.predictor}, {image.bits}-bit samples of format {image.sample_format}",
        )
    dtype = _dtype(image)
    out = np.empty((image.height, image.width, image.samples), dtype=dtype)
    for index, (offset, count) in enumerate(zip(image.offsets, image.byte_counts, strict=True)):
        row, column = divmod(index, image.tiles_across)
        top, left = row * image.tile_height, column * image.tile_width
        rows = min(image.tile_height, image.height - top)
        columns = min(image.tile_width, image.width - left)
        if offset < 0 or count <= 0 or offset + count > len(data):
            raise SensorDataUnusable(
                name,
                SENSOR_DATA_CUT_OFF,
                f"tile {index} of {count} bytes at {offset} is past the end ({len(data)} bytes)",
            )
        chunk = bytes(data[offset : offset + count])
        tile = _decode_tile(chunk, image, name, index, rows)
        out[top : top + rows, left : left + columns] = tile[:rows, :columns]
    return out


def _dtype(image: RawImage) -> np.dtype[np.generic]:
    code = _DTYPES[(image.sample_format, image.bits)]
    return np.dtype("f4" if code == "f3" else code)


def _decode_tile(chunk: bytes, image: RawImage, name: str, index: int, rows: int) -> Samples:
    """One tile (``rows`` high for the last strip) as tile_height x tile_width x samples."""
    # Strips hold only the rows they cover; tiles are always whole.
    strips = image.tile_width == image.width and image.tiles_across == 1
    height = rows if strips else image.tile_height
    shape = (height, image.tile_width, image.samples)
    try:
        if image.compression == JPEG_XL:
            tile = _jpeg_xl(chunk, shape, image)
        else:
            tile = _tiff_tile(chunk, shape, image)
    except (ValueError, zlib.error, imagecodecs.JpegxlError) as exc:
        raise _unreadable(name, f"tile {index}: {type(exc).__name__}: {exc}") from exc
    return tile


def _tiff_tile(chunk: bytes, shape: tuple[int, int, int], image: RawImage) -> Samples:
    size = image.bits // 8
    expected = shape[0] * shape[1] * shape[2] * size
    if image.compression == DEFLATE:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(chunk, expected)
    else:
        raw = chunk[:expected]
    if len(raw) < expected:
        raise ValueError(f"{len(raw)} bytes where the tile needs {expected}")
    if image.predictor in FLOAT_PREDICTORS:
        distance = FLOAT_PREDICTORS[image.predictor] * shape[2]
        return _float_predicted(raw, shape, size, distance, image.bits)
    order = "<" if image.little_endian else ">"
    code = _DTYPES[(image.sample_format, image.bits)]
    if code == "f3":
        raise ValueError("24-bit floats are only stored with the floating-point predictor")
    tile = np.frombuffer(raw, dtype=order + code).reshape(shape)
    if image.predictor in HORIZONTAL_PREDICTORS:
        tile = _undo_differences(tile.copy(), HORIZONTAL_PREDICTORS[image.predictor])
    return tile.astype(_dtype(image), copy=False)


def _undo_differences(tile: Samples, distance: int) -> Samples:
    """Horizontal differencing undone: each sample was stored less the one ``distance``
    pixels to its left (integer wrap-around, as the encoder wrote it)."""
    for phase in range(min(distance, tile.shape[1])):
        tile[:, phase::distance] = np.cumsum(tile[:, phase::distance], axis=1, dtype=tile.dtype)
    return tile


def _float_predicted(
    raw: bytes, shape: tuple[int, int, int], size: int, distance: int, bits: int
) -> Samples:
    """TIFF's floating-point predictor undone (Adobe's Technical Note 3, DNG's X2 and X4):
    each row holds the samples' bytes as planes, most significant first, differenced
    byte by byte ``distance`` samples apart."""
    rows, width, samples = shape
    count = width * samples
    planes = np.frombuffer(raw, dtype=np.uint8, count=rows * count * size).reshape(rows, -1).copy()
    for phase in range(min(distance, planes.shape[1])):
        planes[:, phase::distance] = np.cumsum(planes[:, phase::distance], axis=1, dtype=np.uint8)
    big_endian = planes.reshape(rows, size, count).transpose(0, 2, 1)
    if bits == 24:
        return _float24(np.ascontiguousarray(big_endian)).reshape(shape)
    code = ">f2" if bits == 16 else ">f4"
    values = np.ascontiguousarray(big_endian).view(code).reshape(shape)
    return values.astype(np.float32)


def _float24(big_endian: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """DNG's 24-bit floats (bytes most significant first) as 32-bit floats."""
    b = big_endian.astype(np.uint32)
    word = (b[..., 0] << 16) | (b[..., 1] << 8) | b[..., 2]
    sign = (word >> 23) << 31
    exponent = (word >> 16) & 0x7F
    mantissa = word & 0xFFFF
    normal = (exponent > 0) & (exponent < 0x7F)
    bits = np.where(normal, sign | ((exponent + 64) << 23) | (mantissa << 7), sign)
    bits = np.where(exponent == 0x7F, sign | (0xFF << 23) | (mantissa << 7), bits)
    return bits.astype(np.uint32).view(np.float32)


def _jpeg_xl(chunk: bytes, shape: tuple[int, int, int], image: RawImage) -> Samples:
    try:
        tile = np.asarray(imagecodecs.jpegxl_decode(chunk))
    except RuntimeError as exc:  # libjxl's own refusals ("could not determine frame count")
        raise ValueError(f"JPEG XL: {exc}") from exc
    if tile.ndim == 2:
        tile = tile[..., None]
    if tile.shape != shape:
        raise ValueError(f"a {tile.shape} tile where {shape} was expected")
    if image.sample_format == SAMPLE_FLOAT:
        tile = tile.astype(np.float32)
    return deinterleave(tile.astype(_dtype(image), copy=False), *image.interleave)


def deinterleave(tile: Samples, row_factor: int, column_factor: int) -> Samples:
    """A tile stored as interleaved fields (DNG 1.7.1) back in raster order.

    With factors (2, 2), the four pixels of each 2x2 block are four fields each stored as
    a contiguous block of the tile, fields ordered row-major: the block of field (i, j)
    holds the pixels at rows i, i + 2, ... and columns j, j + 2, ... A factor at least
    the tile's size means no interleave.
    """
    height, width = tile.shape[:2]
    row_factor = row_factor if 1 < row_factor < height else 1
    column_factor = column_factor if 1 < column_factor < width else 1
    if row_factor == 1 and column_factor == 1:
        return tile
    rows = _field_sources(height, row_factor)
    columns = _field_sources(width, column_factor)
    return tile[rows[:, None], columns[None, :]]


def _field_sources(length: int, factor: int) -> npt.NDArray[np.intp]:
    """For each raster position, where it is stored among ``factor`` interleaved fields."""
    position = np.arange(length)
    field = position % factor
    field_start = field * (length // factor) + np.minimum(field, length % factor)
    return np.asarray(field_start + position // factor, dtype=np.intp)


def _unreadable(name: str, detail: str) -> SensorDataUnusable:
    return SensorDataUnusable(name, SENSOR_DATA_UNREADABLE, detail)
