"""Embedded previews: the cheapest correct source for most renditions.

LibRaw hands over the largest preview it knows. When LibRaw refuses a file (a stub,
or a file cut off inside its header) the JPEG streams inside it are found by their
markers instead, so a damaged upload still gets renditions from its intact preview.

A preview is in the colour space the camera was set to: sRGB or Adobe RGB (1998). Its
own ICC profile says which when it has one; otherwise its own EXIF does, or, for the
many previews that carry no EXIF (Nikon, Canon), the RAW file's: ``ColorSpace`` 2, or
``ColorSpace`` 0xFFFF ("uncalibrated") with the interoperability index ``R03`` (the DCF
rule for Adobe RGB), or a Nikon maker note's colour space of 2. Adobe RGB previews are
converted to sRGB with LittleCMS.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from dataclasses import dataclass, replace
from typing import Literal

import rawpy
from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError
from PIL.Image import DecompressionBombError

from .icc import adobe_rgb_icc
from .rawfile import Buffer, RawFile

ColourSpace = Literal["sRGB", "Adobe RGB"]
SRGB: ColourSpace = "sRGB"
ADOBE_RGB: ColourSpace = "Adobe RGB"

_SOI = b"\xff\xd8\xff"
_MAX_CANDIDATES = 4096
# The next marker after entropy-coded data: 0xFF not followed by stuffing, RSTn or fill.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_MIN_PREVIEW_EDGE = 64
# EXIF tags: ColorSpace (Exif IFD), InteroperabilityIndex (Interop IFD), MakerNote, and
# the Nikon maker note's ColorSpace.
_COLOR_SPACE = 0xA001
_INTEROP_INDEX = 0x0001
_MAKER_NOTE = 0x927C
_NIKON_COLOR_SPACE = 0x001E
_NIKON_MAKER_NOTE = b"Nikon\0"
_NIKON_TIFF_START = 10  # "Nikon\0", a version word and two reserved bytes, then a TIFF
# What Pillow raises on EXIF it cannot follow (offsets past the end, wrong types).
_EXIF_ERRORS = (OSError, SyntaxError, ValueError, KeyError, TypeError, IndexError, struct.error)


@dataclass
class EmbeddedPreview:
    """An undecoded embedded JPEG and its stored (not yet oriented) pixel size.

    ``container_colour_space`` is the colour space the RAW file's own EXIF records, used
    when the JPEG says nothing about its colours itself.
    """

    data: bytes
    width: int
    height: int
    container_colour_space: ColourSpace | None = None

    @property
    def long_edge(self) -> int:
        return max(self.width, self.height)


def find_preview(raw: RawFile, max_pixels: int, wanted_long_edge: int) -> EmbeddedPreview | None:
    """The embedded JPEG to render from: LibRaw's pick, or a larger one found in the file.

    LibRaw does not always pick the largest preview (Pentax PEF, for one), so when its
    pick is too small for ``wanted_long_edge`` the file is searched for a bigger one.
    """
    data = _libraw_jpeg(raw)
    best = _probe(data, max_pixels) if data is not None else None
    if best is None or best.long_edge < wanted_long_edge:
        with raw.view() as blob:
            found = _scan_for_jpeg(blob, max_pixels)
        if found is not None and (best is None or found.long_edge > best.long_edge):
            best = found
    if best is None:
        return None
    return replace(best, container_colour_space=container_colour_space(raw))


def container_colour_space(raw: RawFile) -> ColourSpace | None:
    """The colour space the RAW file's EXIF records, for TIFF-structured RAWs.

    NEF, CR2, ARW, PEF, DNG, ORF, RW2 and the like start with a TIFF header (ORF and RW2
    with their own magic number, but TIFF's byte order and IFD0 offset); IFD0 leads to
    the EXIF and interoperability IFDs. ``None`` when the file records nothing.
    """
    with raw.stream() as stream:
        head = stream.read(8)
        if len(head) < 8 or head[:2] not in (b"II", b"MM"):
            return None
        order: Literal["little", "big"] = "little" if head[:2] == b"II" else "big"
        exif = Image.Exif()
        exif.endian = "<" if order == "little" else ">"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Pillow warns about odd tags it skips
                exif.load_from_fp(stream, int.from_bytes(head[4:8], order))
                return exif_colour_space(exif)
        except _EXIF_ERRORS:
            return None


def exif_colour_space(exif: Image.Exif) -> ColourSpace | None:
    """sRGB or Adobe RGB as ``exif`` records it; ``None`` when it records no colour space."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            sub = exif.get_ifd(ExifTags.IFD.Exif)
            value = sub.get(_COLOR_SPACE)
            if value == 2:  # not in the EXIF standard, but written by some cameras
                return ADOBE_RGB
            if value == 0xFFFF:
                index = exif.get_ifd(ExifTags.IFD.Interop).get(_INTEROP_INDEX)
                if _text(index) == "R03":
                    return ADOBE_RGB
            maker = _nikon_colour_space(sub.get(_MAKER_NOTE))
        except _EXIF_ERRORS:
            return None
    if maker is not None:
        return maker
    return SRGB if value in (1, 0xFFFF) else None


def _nikon_colour_space(note: object) -> ColourSpace | None:
    """A Nikon maker note's colour space (1 sRGB, 2 Adobe RGB): its own small TIFF."""
    if not isinstance(note, bytes) or not note.startswith(_NIKON_MAKER_NOTE):
        return None
    maker = Image.Exif()
    maker.load(note[_NIKON_TIFF_START:])
    value = maker.get(_NIKON_COLOR_SPACE)
    return {1: SRGB, 2: ADOBE_RGB}.get(value) if isinstance(value, int) else None


def _text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip("\0 ").upper() if value is not None else ""


def _libraw_jpeg(raw: RawFile) -> bytes | None:
    if raw.libraw is None:
        return None
    try:
        thumb = raw.libraw.extract_thumb()
    except (rawpy.LibRawError, ValueError):
        return None
    if thumb.format != rawpy.ThumbFormat.JPEG:
        return None
    return bytes(thumb.data)


def _probe(data: bytes, max_pixels: int) -> EmbeddedPreview | None:
    """Read the JPEG header only; reject tiny, oversized or non-JPEG streams."""
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG",)) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, DecompressionBombError):
        return None
    if min(width, height) < _MIN_PREVIEW_EDGE or width * height > max_pixels:
        return None
    return EmbeddedPreview(data, width, height)


def _scan_for_jpeg(blob: Buffer, max_pixels: int) -> EmbeddedPreview | None:
    """The largest intact DCT JPEG stored anywhere in ``blob``."""
    best: EmbeddedPreview | None = None
    start = blob.find(_SOI)
    seen = 0
    while start != -1 and seen < _MAX_CANDIDATES:
        seen += 1
        end = _dct_jpeg_end(blob, start)
        if end is None:
            start = blob.find(_SOI, start + 3)
            continue
        found = _probe(bytes(blob[start:end]), max_pixels)
        if found is not None and (best is None or found.long_edge > best.long_edge):
            best = found
        start = blob.find(_SOI, end)
    return best if best is not None and _decodes(best.data) else None


def _dct_jpeg_end(blob: Buffer, start: int) -> int | None:
    """Offset just past the EOI of a baseline or progressive JPEG starting at ``start``.

    Walks the marker segments; returns ``None`` for a lossless JPEG (RAW sensor data is
    stored that way) or a stream that is cut off, so neither is mistaken for a preview.
    """
    pos = start + 2
    size = len(blob)
    while pos + 2 <= size:  # an EOI may end the file
        if blob[pos] != 0xFF:
            return None
        marker = blob[pos + 1]
        if marker == 0xD9:
            return pos + 2
        if marker == 0xFF:
            pos += 1
            continue
        if pos + 4 > size:
            return None
        if 0xC3 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return None  # lossless, hierarchical or arithmetic-coded frame
        length = int.from_bytes(blob[pos + 2 : pos + 4], "big")
        pos += 2 + length
        if marker == 0xDA:
            match = _NEXT_MARKER.search(blob, pos)
            if match is None:
                return None
            pos = match.start()
    return None


def _decodes(data: bytes) -> bool:
    """Decode at 1/8 scale: cheap proof that the entropy-coded data is intact."""
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG",)) as img:
            img.draft("RGB", (img.width // 8, img.height // 8))
            img.load()
    except (OSError, SyntaxError, ValueError, EOFError, DecompressionBombError):
        return False
    return True


def decode_preview(preview: EmbeddedPreview, target_long_edge: int | None) -> Image.Image:
    """Decode to RGB in sRGB, letting libjpeg scale down by DCT when a size is known.

    The JPEG's colour space is its ICC profile's, else the one its own EXIF records, else
    the RAW file's (``preview.container_colour_space``), else sRGB.
    """
    jpeg = Image.open(io.BytesIO(preview.data), formats=("JPEG",))
    if target_long_edge is not None:
        scale = target_long_edge / preview.long_edge
        jpeg.draft("RGB", (max(1, int(preview.width * scale)), max(1, int(preview.height * scale))))
    icc = jpeg.info.get("icc_profile")
    if not icc and preview_colour_space(jpeg, preview) == ADOBE_RGB:
        icc = adobe_rgb_icc()
    img = jpeg.convert("RGB")
    if icc:
        img = _to_srgb(img, icc)
    return img


def preview_colour_space(jpeg: Image.Image, preview: EmbeddedPreview) -> ColourSpace:
    """The colour space of a preview without an ICC profile: its EXIF's, else the RAW's."""
    try:
        exif = jpeg.getexif()
    except _EXIF_ERRORS:
        exif = Image.Exif()
    return exif_colour_space(exif) or preview.container_colour_space or SRGB


def _to_srgb(img: Image.Image, icc: bytes) -> Image.Image:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ImageCms.PyCMSError):
        return img
    converted = ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"))
    return converted if converted is not None else img
