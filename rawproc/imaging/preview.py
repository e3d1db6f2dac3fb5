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

import numpy as np
import numpy.typing as npt
import rawpy
from PIL import ExifTags, Image, ImageCms
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


def find_preview(
    raw: RawFile, max_pixels: int, wanted_long_edge: int, *, thorough: bool = False
) -> EmbeddedPreview | None:
    """The largest embedded JPEG, found from headers alone: nothing is decoded.

    A TIFF-structured RAW lists its JPEGs in its IFDs (and a Pentax maker note); their
    sizes come from each JPEG's frame header and each must end in an EOI where its IFD
    says. Other containers (CRW, CR3, RAF) get LibRaw's pick. ``thorough`` (for a file
    whose sensor data is unusable, when the preview is all there is) also searches the
    whole file for JPEG streams by their markers, which finds previews in files cut off
    or refused by LibRaw, at the cost of reading every byte.
    """
    with raw.view() as blob:
        best = _listed_jpeg(blob, max_pixels)
    if best is None:
        data = _libraw_jpeg(raw)
        best = _probe(data, max_pixels) if data is not None else None
    if thorough and (best is None or best.long_edge < wanted_long_edge):
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
    """Read the JPEG header only; reject tiny, oversized or non-DCT streams."""
    header = jpeg_header(data)
    if header is None:
        return None
    width, height = header.width, header.height
    if min(width, height) < _MIN_PREVIEW_EDGE or width * height > max_pixels:
        return None
    return EmbeddedPreview(data, width, height)


@dataclass(frozen=True)
class JpegHeader:
    """What a JPEG's marker segments up to its frame header say."""

    width: int
    height: int
    components: int
    icc: bytes | None
    exif: bytes | None


_SOF_DCT = (0xC0, 0xC1, 0xC2)  # baseline, extended and progressive Huffman frames
_ICC_TAG = b"ICC_PROFILE\0"
_EXIF_TAG = b"Exif\0\0"
_HEADER_LIMIT = 1 << 20  # a frame header further in than this is not a preview's


def jpeg_header(data: Buffer, start: int = 0, end: int | None = None) -> JpegHeader | None:
    """The frame header of the DCT JPEG at ``start``, with its ICC profile and EXIF.

    Walks the marker segments from SOI to the first SOF; ``None`` for anything else (a
    lossless JPEG, as RAW sensor data is stored, or a damaged header).
    """
    end = min(len(data), start + _HEADER_LIMIT if end is None else end)
    if bytes(data[start : start + 3]) != _SOI:
        return None
    pos = start + 2
    icc: dict[int, bytes] = {}
    exif: bytes | None = None
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or pos + 2 + length > end:
            return None
        body = pos + 4
        if marker in _SOF_DCT:
            if length < 8:
                return None
            height = int.from_bytes(data[body + 1 : body + 3], "big")
            width = int.from_bytes(data[body + 3 : body + 5], "big")
            components = data[body + 5]
            if not width or not height or components not in (1, 3, 4):
                return None
            profile = b"".join(icc[k] for k in sorted(icc)) if icc else None
            return JpegHeader(width, height, components, profile, exif)
        if 0xC3 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return None  # lossless, hierarchical or arithmetic-coded frame
        if marker in (0xD9, 0xDA):
            return None  # no frame header before the image data
        segment = bytes(data[body : pos + 2 + length])
        if marker == 0xE2 and segment.startswith(_ICC_TAG) and len(segment) > 14:
            icc[segment[12]] = segment[14:]
        elif marker == 0xE1 and exif is None and segment.startswith(_EXIF_TAG):
            exif = segment[6:]
        pos += 2 + length
    return None


# TIFF tags that locate JPEG streams: JPEGInterchangeFormat(Length), StripOffsets and
# StripByteCounts (a one-strip JPEG: CR2's and DNG's previews), SubIFDs, the EXIF IFD and
# its maker note.
_JPEG_OFFSET, _JPEG_LENGTH = 0x0201, 0x0202
_STRIP_OFFSETS, _STRIP_BYTES = 0x0111, 0x0117
_SUB_IFDS, _EXIF_IFD = 0x014A, 0x8769
_PENTAX_MAKER_NOTE = b"AOC\0"  # offsets from the start of the file
_PENTAX_NEW_MAKER_NOTE = b"PENTAX \0"  # offsets from the start of the maker note
_NIKON_PREVIEW_IFD = 0x0011
_PENTAX_PREVIEW_LENGTH, _PENTAX_PREVIEW_START = 0x0003, 0x0004
_MAX_IFDS = 64
_MAX_ENTRIES = 1024
# Bytes of padding allowed between a JPEG's EOI and the end its IFD gives.
_EOI_SLACK = 64
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


def _listed_jpeg(blob: Buffer, max_pixels: int) -> EmbeddedPreview | None:
    """The largest intact DCT JPEG that the TIFF structure of ``blob`` points to."""
    best: tuple[int, int, JpegHeader] | None = None
    for offset, length in _tiff_jpeg_locations(blob):
        stop = offset + length
        if offset < 0 or length < 4 or stop > len(blob):
            continue
        header = jpeg_header(blob, offset, stop)
        if header is None or header.components == 4:
            continue
        eoi = bytes(blob[max(offset, stop - _EOI_SLACK) : stop]).rfind(b"\xff\xd9")
        if eoi == -1:
            continue  # cut off: the JPEG does not end where its IFD says
        if min(header.width, header.height) < _MIN_PREVIEW_EDGE:
            continue
        if header.width * header.height > max_pixels:
            continue
        if best is None or max(header.width, header.height) > max(best[2].width, best[2].height):
            best = (offset, max(offset, stop - _EOI_SLACK) + eoi + 2, header)
    if best is None:
        return None
    start, stop, header = best
    return EmbeddedPreview(bytes(blob[start:stop]), header.width, header.height)


def _tiff_jpeg_locations(blob: Buffer) -> list[tuple[int, int]]:
    """(offset, length) of every JPEG the IFDs of a TIFF-structured RAW point to."""
    head = bytes(blob[:8])
    if len(head) < 8 or head[:2] not in (b"II", b"MM"):
        return []
    order = "<" if head[:2] == b"II" else ">"
    found: list[tuple[int, int]] = []
    queue: list[tuple[int, int, str]] = [(struct.unpack(order + "I", head[4:8])[0], 0, order)]
    seen: set[int] = set()
    while queue and len(seen) < _MAX_IFDS:
        ifd, base, endian = queue.pop(0)
        if ifd + base in seen:
            continue
        seen.add(ifd + base)
        try:
            entries, following = _ifd_entries(blob, ifd + base, base, endian)
        except (struct.error, ValueError):
            continue
        if following:
            queue.append((following, base, endian))
        for pair in ((_JPEG_OFFSET, _JPEG_LENGTH), (_STRIP_OFFSETS, _STRIP_BYTES)):
            offsets, lengths = entries.get(pair[0]), entries.get(pair[1])
            if offsets and lengths and len(offsets) == 1 and len(lengths) == 1:
                found.append((offsets[0] + base, lengths[0]))
        for sub in entries.get(_SUB_IFDS, ()):
            queue.append((sub, base, endian))
        for sub in entries.get(_EXIF_IFD, ()):
            queue.append((sub, base, endian))
        if base:  # a maker note's own TIFF (Nikon): its preview IFD
            for sub in entries.get(_NIKON_PREVIEW_IFD, ()):
                queue.append((sub, base, endian))
        note = entries.get(_MAKER_NOTE)
        if note:
            found.extend(_maker_note_jpegs(blob, note[0] + base, note[1], queue))
    return found


def _ifd_entries(
    blob: Buffer, at: int, base: int, endian: str
) -> tuple[dict[int, tuple[int, ...]], int]:
    """The integer values of an IFD's entries (a maker note's offset and length for
    UNDEFINED data), and the offset of the next IFD."""
    (count,) = struct.unpack_from(endian + "H", blob, at)
    if count > _MAX_ENTRIES:
        raise ValueError("not an IFD")
    entries: dict[int, tuple[int, ...]] = {}
    for i in range(count):
        tag, kind, n, value = struct.unpack_from(endian + "HHII", blob, at + 2 + 12 * i)
        size = _TYPE_SIZES.get(kind, 0)
        if kind == 7 and tag == _MAKER_NOTE:
            entries[tag] = (value, n)
        elif kind in (3, 4, 13) and 0 < n <= 64:
            where = at + 2 + 12 * i + 8 if size * n <= 4 else value + base
            code = "H" if kind == 3 else "I"
            entries[tag] = struct.unpack_from(f"{endian}{n}{code}", blob, where)
    (following,) = struct.unpack_from(endian + "I", blob, at + 2 + 12 * count)
    return entries, following


def _maker_note_jpegs(
    blob: Buffer, at: int, length: int, queue: list[tuple[int, int, str]]
) -> list[tuple[int, int]]:
    """JPEGs a maker note points to: Pentax's preview, and Nikon's IFDs (walked later)."""
    head = bytes(blob[at : at + 18])
    if len(head) < 18:
        return []
    if head.startswith(_NIKON_MAKER_NOTE) and head[10:12] in (b"II", b"MM"):
        endian = "<" if head[10:12] == b"II" else ">"
        tiff = at + _NIKON_TIFF_START
        queue.append((struct.unpack(endian + "I", head[14:18])[0], tiff, endian))
        return []
    if head.startswith(_PENTAX_MAKER_NOTE) and head[4:6] in (b"II", b"MM"):
        endian, ifd, base = ("<" if head[4:6] == b"II" else ">"), at + 6, 0
    elif head.startswith(_PENTAX_NEW_MAKER_NOTE) and head[8:10] in (b"II", b"MM"):
        endian, ifd, base = ("<" if head[8:10] == b"II" else ">"), at + 10, at
    else:
        return []
    try:
        entries, _ = _ifd_entries(blob, ifd, base, endian)
    except (struct.error, ValueError):
        return []
    start, size = entries.get(_PENTAX_PREVIEW_START), entries.get(_PENTAX_PREVIEW_LENGTH)
    if start and size:
        return [(start[0] + base, size[0])]
    return []


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


def dct_scale(width: int, height: int, target_long_edge: int) -> int:
    """The numerator n of the smallest DCT scale n/8 whose image keeps ``target_long_edge``.

    libjpeg-turbo decodes at n/8 for n in 1..8, giving ceil(edge * n / 8) pixels: the
    cheapest decode whose long edge is still at least the largest rendition asked for.
    """
    long_edge = max(width, height)
    for n in range(1, 8):
        if -(-long_edge * n // 8) >= target_long_edge:
            return n
    return 8


def dct_scaled_size(width: int, height: int, n: int) -> tuple[int, int]:
    """The size libjpeg-turbo decodes a ``width`` x ``height`` JPEG to at scale n/8."""
    return -(-width * n // 8), -(-height * n // 8)


def decode_preview(preview: EmbeddedPreview, target_long_edge: int | None) -> Image.Image:
    """``decode_preview_pixels`` as a Pillow image."""
    return Image.fromarray(decode_preview_pixels(preview, target_long_edge))


def decode_preview_pixels(
    preview: EmbeddedPreview, target_long_edge: int | None
) -> npt.NDArray[np.uint8]:
    """Decode to RGB in sRGB, at the smallest DCT scale that keeps ``target_long_edge``.

    The JPEG's colour space is its ICC profile's, else the one its own EXIF records, else
    the RAW file's (``preview.container_colour_space``), else sRGB. libjpeg-turbo (through
    simplejpeg) decodes greyscale and YCbCr previews; a CMYK one goes through Pillow.
    """
    header = jpeg_header(preview.data)
    if header is None or header.components == 4:
        return np.asarray(_decode_with_pillow(preview, target_long_edge))
    import simplejpeg  # only where a preview serves renditions: a sensor render never needs it

    n = 8 if target_long_edge is None else dct_scale(header.width, header.height, target_long_edge)
    width, height = dct_scaled_size(header.width, header.height, n)
    pixels = simplejpeg.decode_jpeg(
        preview.data, colorspace="RGB", min_width=width, min_height=height
    )
    icc = header.icc
    if not icc and _exif_bytes_colour_space(header.exif, preview) == ADOBE_RGB:
        icc = adobe_rgb_icc()
    if not icc:
        return np.asarray(pixels, dtype=np.uint8)
    return np.asarray(_to_srgb(Image.fromarray(pixels), icc))


def _exif_bytes_colour_space(exif: bytes | None, preview: EmbeddedPreview) -> ColourSpace:
    record = Image.Exif()
    if exif:
        try:
            record.load(exif)
        except _EXIF_ERRORS:
            record = Image.Exif()
    return exif_colour_space(record) or preview.container_colour_space or SRGB


def decode_preview_small(preview: EmbeddedPreview, target_long_edge: int) -> Image.Image:
    """A small decode (Pillow, DCT-scaled to at most 1/8) for a check, not a rendition."""
    return _decode_with_pillow(preview, target_long_edge)


def _decode_with_pillow(preview: EmbeddedPreview, target_long_edge: int | None) -> Image.Image:
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
