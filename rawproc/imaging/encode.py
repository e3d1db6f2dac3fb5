"""Encoding renditions: JPEG, WebP or AVIF, always tagged as sRGB."""

from __future__ import annotations

import io
from functools import cache
from typing import Any

from PIL import Image, ImageCms

from .specs import RenditionSpec

# Pillow loads its common plugins on the first save; once, when the engine is imported.
Image.preinit()


@cache
def srgb_icc() -> bytes:
    """The sRGB ICC profile embedded in every rendition, so browsers need not guess."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    data: bytes = profile.tobytes()
    return data


def encode(image: Image.Image, spec: RenditionSpec, exif: bytes | None = None) -> bytes:
    params: dict[str, Any] = {"quality": spec.effective_quality, "icc_profile": srgb_icc()}
    if exif:
        params["exif"] = exif
    if spec.format == "jpeg":
        # Baseline: a progressive scan costs about six times as long to encode here.
        params.update(optimize=False, progressive=False)
        pil_format = "JPEG"
    elif spec.format == "webp":
        params.update(method=3)
        pil_format = "WEBP"
    else:
        params.update(speed=8)
        pil_format = "AVIF"
    out = io.BytesIO()
    image.save(out, pil_format, **params)
    return out.getvalue()
