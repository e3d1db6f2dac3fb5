"""Renditions derived from a stored rendition: a resize and an encode, no RAW decode.

A rendition of at least the wanted size already holds every pixel a smaller one needs
(developed, oriented, in sRGB), so a downscale of it is what the engine would produce from
the original, at a fraction of the cost.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from .encode import encode
from .engine import Rendition, _fit
from .orientation import as_image
from .specs import RenditionSpec


def derive_rendition(
    data: bytes, spec: RenditionSpec, *, source: str, copy_exif: bool = False
) -> Rendition:
    """Render ``spec`` from the encoded image ``data``; never upscaled, like the engine."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        exif = opened.info.get("exif") if copy_exif else None
        image = opened.convert("RGB") if opened.mode != "RGB" else opened.copy()
    # As an array, the resize takes the engine's fastest resampler for the ratio.
    target = spec.size if spec.size is not None else max(image.size)
    fitted = as_image(_fit(np.asarray(image), target))
    encoded = encode(fitted, spec, exif if isinstance(exif, bytes) else None)
    return Rendition(spec, encoded, fitted.width, fitted.height, source)
