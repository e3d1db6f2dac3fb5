"""Which DNGs the engine reads itself, and which it leaves to LibRaw.

LibRaw (0.22, in rawpy 0.28) renders an 8-bit LinearRaw DNG strongly magenta, does not
open a JPEG XL DNG (DNG 1.7) at all, and is not trusted with floating-point samples
(HDR merges). Those kinds are read by ``dng_decode`` and developed by ``dng_develop``,
when their storage is one ``dng_decode`` reads; every other DNG (plain Bayer ones, to
which LibRaw also applies their opcodes) stays with LibRaw.
"""

from __future__ import annotations

from .dng import BAYER_LAYOUTS, CFA, JPEG_XL, LINEAR_RAW, SAMPLE_FLOAT, DngHeader
from .dng_decode import supported


def read_by_engine(header: DngHeader) -> bool:
    """Whether the engine reads this DNG's raw image itself instead of LibRaw."""
    image = header.image
    linear = image.photometric == LINEAR_RAW and image.samples == 3
    bayer = (
        image.photometric == CFA
        and image.samples == 1
        and image.cfa_pattern is not None
        and tuple(image.cfa_pattern) in BAYER_LAYOUTS
    )
    own_kind = linear or (
        bayer and (image.compression == JPEG_XL or image.sample_format == SAMPLE_FLOAT)
    )
    width, height = image.size
    return own_kind and supported(image) and min(width, height) >= 2
