"""Placeholders: a ThumbHash of each ready asset, painted by clients while images load.

ThumbHash (https://evanw.github.io/thumbhash/) packs the colours, the rough layout and the
aspect ratio of an image into about 25 bytes. It is computed once, in the worker, from the
smallest rendition just made (its pixels are already oriented as displayed), and sent as
base64 in list and detail responses.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import thumbhash
from PIL import Image

if TYPE_CHECKING:  # the engine loads in the worker, not with the web process
    from rawproc.imaging import Rendition

logger = logging.getLogger(__name__)

# ThumbHash encodes images of at most 100x100 pixels.
MAX_EDGE = 100


def thumbhash_of(data: bytes) -> str:
    """The base64 ThumbHash of an encoded image (JPEG, WebP, AVIF...)."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (MAX_EDGE, MAX_EDGE))  # a JPEG decodes at a DCT scale already
        small = image.convert("RGBA")
    small.thumbnail((MAX_EDGE, MAX_EDGE), Image.Resampling.BOX)
    packed = thumbhash.rgba_to_thumb_hash(small.width, small.height, small.tobytes())
    return base64.b64encode(packed).decode("ascii")


def rendition_thumbhash(renditions: Sequence[Rendition]) -> str:
    """The ThumbHash of the smallest 8-bit rendition; empty when there is none or it cannot
    be read (a placeholder is a nicety: it never fails an asset)."""
    candidates = [r for r in renditions if r.spec.format in ("jpeg", "webp", "avif")]
    if not candidates:
        return ""
    smallest = min(candidates, key=lambda r: r.width * r.height)
    try:
        return thumbhash_of(smallest.data)
    except (OSError, ValueError) as exc:
        logger.warning("no thumbhash for a %s rendition: %s", smallest.spec.format, exc)
        return ""
