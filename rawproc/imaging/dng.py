"""The TIFF structure of a DNG: IFD0, its SubIFDs and the tags of the raw image.

Pure parsing, no pixels: ``parse_dng`` finds the raw IFD (NewSubFileType 0) and returns
what a reader needs to decode its samples (``RawImage``) and what a developer needs to
colour them (``DngColour``). Every offset and count is checked against the file, counts
are capped, and loops over IFDs stop at the first one seen twice, so a mutated header
gives ``DngHeaderError`` and never an exception of another kind or a hang.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .errors import CorruptFile

# TIFF field types: (struct code, size in bytes); rationals are read as two words.
_TYPES: dict[int, tuple[str, int]] = {
    1: ("B", 1),
    2: ("B", 1),
    3: ("H", 2),
    4: ("I", 4),
    5: ("I", 8),
    6: ("b", 1),
    7: ("B", 1),
    8: ("h", 2),
    9: ("i", 4),
    10: ("i", 8),
    11: ("f", 4),
    12: ("d", 8),
    13: ("I", 4),
}
_RATIONALS = (5, 10)
# Values read from one tag at most (a LinearizationTable has up to 65536; tile tables of
# very large images a few thousand).
_MAX_VALUES = 1 << 20
_MAX_IFDS = 64
_MAX_ENTRIES = 1024
# Tiles may overhang the image, by less than a tile.
_TILE_SLACK = 1024

# Tags.
NEW_SUBFILE_TYPE = 254
WIDTH, HEIGHT, BITS, COMPRESSION, PHOTOMETRIC = 256, 257, 258, 259, 262
STRIP_OFFSETS, SAMPLES_PER_PIXEL, ROWS_PER_STRIP, STRIP_BYTE_COUNTS = 273, 277, 278, 279
PLANAR, PREDICTOR = 284, 317
TILE_WIDTH, TILE_LENGTH, TILE_OFFSETS, TILE_BYTE_COUNTS = 322, 323, 324, 325
SUB_IFDS, SAMPLE_FORMAT, ORIENTATION = 330, 339, 274
CFA_REPEAT, CFA_PATTERN = 33421, 33422
DNG_VERSION = 50706
LINEARIZATION, BLACK_REPEAT, BLACK_LEVEL = 50712, 50713, 50714
WHITE_LEVEL, CROP_ORIGIN, CROP_SIZE = 50717, 50719, 50720
COLOR_MATRIX = (50721, 50722)
AS_SHOT_NEUTRAL, BASELINE_EXPOSURE = 50728, 50730
ILLUMINANT = (50778, 50779)
ACTIVE_AREA = 50829
FORWARD_MATRIX = (50964, 50965)
OPCODE_LISTS = {51008: "OpcodeList1", 51009: "OpcodeList2", 51022: "OpcodeList3"}
# RowInterleaveFactor dates from DNG 1.2; DNG 1.7.1 added ColumnInterleaveFactor.
ROW_INTERLEAVE, COLUMN_INTERLEAVE = 50975, 52547

# PhotometricInterpretation and Compression values.
CFA, LINEAR_RAW = 32803, 34892
UNCOMPRESSED, DEFLATE, JPEG_XL = 1, 8, 52546
# Predictor: the distance, in pixels, a sample is predicted from.
HORIZONTAL_PREDICTORS = {2: 1, 34892: 2, 34893: 4}
FLOAT_PREDICTORS = {3: 1, 34894: 2, 34895: 4}
SAMPLE_UINT, SAMPLE_FLOAT = 1, 3
# The Bayer layouts, as the colours (0 R, 1 G, 2 B) of the top-left 2x2 block, row by row.
BAYER_LAYOUTS = {(0, 1, 1, 2), (2, 1, 1, 0), (1, 0, 2, 1), (1, 2, 0, 1)}

Number = int | float
Values = tuple[Number, ...]


class DngHeaderError(CorruptFile):
    """The DNG's directory structure or raw image tags cannot be used."""

    def __init__(self, filename: str, detail: str) -> None:
        super().__init__(filename, "The DNG file's structure is damaged.", detail)


@dataclass(frozen=True)
class RawImage:
    """The raw IFD: how its samples are stored and the levels to read them by."""

    width: int
    height: int
    samples: int  # per pixel: 1 for a mosaic, 3 for LinearRaw
    bits: int
    sample_format: int
    compression: int
    photometric: int
    predictor: int
    tile_width: int  # strips are tiles as wide as the image
    tile_height: int
    offsets: tuple[int, ...]
    byte_counts: tuple[int, ...]
    cfa_pattern: tuple[int, ...] | None  # colours of a 2x2 repeat, row by row
    linearization: tuple[int, ...] | None
    black_repeat: tuple[int, int]
    black: tuple[float, ...]  # black_repeat rows x columns x samples
    white: tuple[float, ...]  # one per sample
    area: tuple[int, int, int, int]  # top, left, bottom, right of the picture
    opcodes: tuple[str, ...]  # opcode lists present
    interleave: tuple[int, int]  # RowInterleaveFactor, ColumnInterleaveFactor
    little_endian: bool

    @property
    def tiles_across(self) -> int:
        return -(-self.width // self.tile_width)

    @property
    def tiles_down(self) -> int:
        return -(-self.height // self.tile_height)

    @property
    def size(self) -> tuple[int, int]:
        """Width and height of the picture after the active area and default crop."""
        top, left, bottom, right = self.area
        return right - left, bottom - top


@dataclass(frozen=True)
class DngColour:
    """IFD0's colour tags, as stored (matrices row by row)."""

    color_matrices: tuple[Values, ...]
    forward_matrices: tuple[Values, ...]
    illuminants: tuple[int, ...]
    as_shot_neutral: Values | None
    baseline_exposure: float


@dataclass(frozen=True)
class DngHeader:
    image: RawImage
    colour: DngColour
    orientation: int


class _Reader:
    def __init__(self, data: bytes | mmap.mmap, name: str) -> None:
        self.data = data
        self.name = name
        if bytes(data[:4]) not in (b"II*\x00", b"MM\x00*"):
            raise DngHeaderError(name, "not a TIFF header")
        self.order: Literal["<", ">"] = "<" if bytes(data[:2]) == b"II" else ">"

    def fail(self, detail: str) -> DngHeaderError:
        return DngHeaderError(self.name, detail)

    def unpack(self, fmt: str, at: int) -> tuple[Number, ...]:
        size = struct.calcsize(self.order + fmt)
        if at < 0 or at + size > len(self.data):
            raise self.fail(f"read of {size} bytes at {at} is past the end ({len(self.data)})")
        return struct.unpack_from(self.order + fmt, self.data, at)

    def ifd(self, at: int) -> tuple[dict[int, Values], int]:
        """The entries of the IFD at ``at`` (tag to values) and the next IFD's offset."""
        (count,) = self.unpack("H", at)
        if int(count) > _MAX_ENTRIES:
            raise self.fail(f"IFD at {at} claims {count} entries")
        tags: dict[int, Values] = {}
        for i in range(int(count)):
            entry = at + 2 + 12 * i
            tag, type_, n = (int(v) for v in self.unpack("HHI", entry))
            values = self.values(type_, n, entry + 8)
            if values is not None:
                tags[tag] = values
        (following,) = self.unpack("I", at + 2 + 12 * int(count))
        return tags, int(following)

    def values(self, type_: int, count: int, field: int) -> Values | None:
        if type_ not in _TYPES or count > _MAX_VALUES:
            return None  # unknown types are skipped, as TIFF readers must
        code, size = _TYPES[type_]
        total = size * count
        at = field if total <= 4 else int(self.unpack("I", field)[0])
        if at + total > len(self.data):
            raise self.fail(f"tag data of {total} bytes at {at} is past the end")
        if type_ in _RATIONALS:
            words = self.unpack(f"{2 * count}{code}", at)
            return tuple(
                float(words[i]) / float(words[i + 1]) if words[i + 1] else 0.0
                for i in range(0, len(words), 2)
            )
        return self.unpack(f"{count}{code}", at)


def parse_dng(data: bytes | mmap.mmap, name: str) -> DngHeader:
    """The raw image and colour tags of the DNG in ``data``; ``DngHeaderError`` when they
    cannot be found or do not add up."""
    reader = _Reader(data, name)
    (first,) = reader.unpack("I", 4)
    ifd0, _ = reader.ifd(int(first))
    if DNG_VERSION not in ifd0:
        raise reader.fail("IFD0 has no DNGVersion")
    raw = _find_raw_ifd(reader, ifd0)
    try:
        return DngHeader(_raw_image(reader, raw), _colour(ifd0), _first_int(ifd0, ORIENTATION, 1))
    except OverflowError as exc:  # a value no real file holds (a white level of 2**64)
        raise reader.fail(f"a tag value out of range: {exc}") from exc


def _find_raw_ifd(reader: _Reader, ifd0: dict[int, Values]) -> dict[int, Values]:
    """The first IFD (IFD0, then its SubIFDs, depth first) with NewSubFileType 0."""
    pending: list[dict[int, Values]] = [ifd0]
    seen: set[int] = set()
    while pending:
        tags = pending.pop(0)
        if _first_int(tags, NEW_SUBFILE_TYPE, 0) == 0 and WIDTH in tags:
            return tags
        for offset in tags.get(SUB_IFDS, ())[:_MAX_IFDS]:
            if int(offset) in seen or len(seen) >= _MAX_IFDS:
                continue
            seen.add(int(offset))
            pending.append(reader.ifd(int(offset))[0])
    raise reader.fail("no raw image IFD (NewSubFileType 0)")


def _raw_image(reader: _Reader, tags: dict[int, Values]) -> RawImage:
    width, height = _first_int(tags, WIDTH, 0), _first_int(tags, HEIGHT, 0)
    samples = _first_int(tags, SAMPLES_PER_PIXEL, 1)
    bits = _first_int(tags, BITS, 1)
    if not (0 < width <= 1 << 20 and 0 < height <= 1 << 20 and samples in (1, 3)):
        raise reader.fail(f"raw image of {width}x{height} pixels, {samples} samples")
    if TILE_OFFSETS in tags:
        tile_w, tile_h = _first_int(tags, TILE_WIDTH, 0), _first_int(tags, TILE_LENGTH, 0)
        offsets, counts = tags[TILE_OFFSETS], tags.get(TILE_BYTE_COUNTS, ())
    else:
        tile_w, tile_h = width, min(height, _first_int(tags, ROWS_PER_STRIP, height))
        offsets, counts = tags.get(STRIP_OFFSETS, ()), tags.get(STRIP_BYTE_COUNTS, ())
    if not (0 < tile_w <= 2 * width + _TILE_SLACK and 0 < tile_h <= 2 * height + _TILE_SLACK):
        raise reader.fail(f"tiles of {tile_w}x{tile_h} pixels in a {width}x{height} image")
    chunks = -(-width // tile_w) * -(-height // tile_h)
    if len(offsets) != chunks or len(counts) != chunks:
        raise reader.fail(f"{len(offsets)} offsets, {len(counts)} counts for {chunks} chunks")
    black_repeat = _pair(tags.get(BLACK_REPEAT), (1, 1))
    if not (1 <= black_repeat[0] <= 16 and 1 <= black_repeat[1] <= 16):
        raise reader.fail(f"BlackLevelRepeatDim {black_repeat}")
    black = _black(tags.get(BLACK_LEVEL), black_repeat[0] * black_repeat[1] * samples)
    white_default = 1.0 if _first_int(tags, SAMPLE_FORMAT, 1) == SAMPLE_FLOAT else 2**bits - 1
    white = tuple(float(v) for v in tags.get(WHITE_LEVEL, (white_default,)))
    white = (white + white[-1:] * samples)[:samples]
    linear = tags.get(LINEARIZATION)
    return RawImage(
        width=width,
        height=height,
        samples=samples,
        bits=bits,
        sample_format=_first_int(tags, SAMPLE_FORMAT, SAMPLE_UINT),
        compression=_first_int(tags, COMPRESSION, UNCOMPRESSED),
        photometric=_first_int(tags, PHOTOMETRIC, 0),
        predictor=_first_int(tags, PREDICTOR, 1),
        tile_width=tile_w,
        tile_height=tile_h,
        offsets=tuple(int(v) for v in offsets),
        byte_counts=tuple(int(v) for v in counts),
        cfa_pattern=_cfa(tags),
        linearization=tuple(int(v) for v in linear) if linear else None,
        black_repeat=black_repeat,
        black=black,
        white=white,
        area=_area(reader, tags, width, height),
        opcodes=tuple(label for tag, label in OPCODE_LISTS.items() if tag in tags),
        interleave=_pair(
            (_first_int(tags, ROW_INTERLEAVE, 1), _first_int(tags, COLUMN_INTERLEAVE, 1)), (1, 1)
        ),
        little_endian=reader.order == "<",
    )


def _area(
    reader: _Reader, tags: dict[int, Values], width: int, height: int
) -> tuple[int, int, int, int]:
    """ActiveArea narrowed by the default crop: top, left, bottom, right."""
    active = tags.get(ACTIVE_AREA, (0, 0, height, width))
    if len(active) != 4:
        raise reader.fail(f"ActiveArea of {len(active)} values")
    top, left, bottom, right = (int(v) for v in active)
    if CROP_ORIGIN in tags and CROP_SIZE in tags:
        (x, y), (w, h) = _pair(tags[CROP_ORIGIN], (0, 0)), _pair(tags[CROP_SIZE], (0, 0))
        top, left = top + y, left + x
        bottom, right = min(bottom, top + h), min(right, left + w)
    if not (0 <= top < bottom <= height and 0 <= left < right <= width):
        raise reader.fail(f"picture area {top},{left} to {bottom},{right} outside {width}x{height}")
    return top, left, bottom, right


def _cfa(tags: dict[int, Values]) -> tuple[int, ...] | None:
    if _first_int(tags, PHOTOMETRIC, 0) != CFA:
        return None
    if _pair(tags.get(CFA_REPEAT), (0, 0)) != (2, 2) or len(tags.get(CFA_PATTERN, ())) != 4:
        return None
    return tuple(int(v) for v in tags[CFA_PATTERN])


def _black(values: Values | None, count: int) -> tuple[float, ...]:
    if not values:
        return (0.0,) * count
    levels = [float(v) for v in values]
    return tuple((levels * count)[:count]) if len(levels) < count else tuple(levels[:count])


def _colour(ifd0: dict[int, Values]) -> DngColour:
    def matrices(tags: Sequence[int]) -> tuple[Values, ...]:
        return tuple(ifd0[t] for t in tags if len(ifd0.get(t, ())) == 9)

    neutral = ifd0.get(AS_SHOT_NEUTRAL)
    return DngColour(
        color_matrices=matrices(COLOR_MATRIX),
        forward_matrices=matrices(FORWARD_MATRIX),
        illuminants=tuple(_first_int(ifd0, t, 0) for t in ILLUMINANT if t in ifd0),
        as_shot_neutral=neutral if neutral is not None and len(neutral) == 3 else None,
        baseline_exposure=float(ifd0.get(BASELINE_EXPOSURE, (0.0,))[0]),
    )


def _first_int(tags: dict[int, Values], tag: int, default: int) -> int:
    values = tags.get(tag)
    return int(values[0]) if values else default


def _pair(values: Values | None, default: tuple[int, int]) -> tuple[int, int]:
    if values is None or len(values) < 2:
        return default
    return int(values[0]), int(values[1])
