"""Embedded previews: the cheapest correct source for most renditions.

LibRaw hands over the largest preview it knows. When LibRaw refuses a file (a stub,
or a file cut off inside its header) the JPEG streams inside it are found by their
markers instead, so a damaged upload still gets renditions from its intact preview.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import rawpy
from PIL import Image, ImageCms, UnidentifiedImageError
from PIL.Image import DecompressionBombError

from .rawfile import Buffer, RawFile

_SOI = b"\xff\xd8\xff"
_MAX_CANDIDATES = 4096
# The next marker after entropy-coded data: 0xFF not followed by stuffing, RSTn or fill.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_MIN_PREVIEW_EDGE = 64


@dataclass
class EmbeddedPreview:
    """An undecoded embedded JPEG and its stored (not yet oriented) pixel size."""

    data: bytes
    width: int
    height: int

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
    return best


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
    while pos + 4 <= size:
        if blob[pos] != 0xFF:
            return None
        marker = blob[pos + 1]
        if marker == 0xD9:
            return pos + 2
        if marker == 0xFF:
            pos += 1
            continue
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
    """Decode to RGB in sRGB, letting libjpeg scale down by DCT when a size is known."""
    jpeg = Image.open(io.BytesIO(preview.data), formats=("JPEG",))
    if target_long_edge is not None:
        scale = target_long_edge / preview.long_edge
        jpeg.draft("RGB", (max(1, int(preview.width * scale)), max(1, int(preview.height * scale))))
    icc = jpeg.info.get("icc_profile")
    img = jpeg.convert("RGB")
    if icc:
        img = _to_srgb(img, icc)
    return img


def _to_srgb(img: Image.Image, icc: bytes) -> Image.Image:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ImageCms.PyCMSError):
        return img
    converted = ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"))
    return converted if converted is not None else img
