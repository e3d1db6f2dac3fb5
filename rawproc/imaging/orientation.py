"""EXIF orientation, applied exactly once whatever the pixel source.

Sensor renders are turned as they are made (by LibRaw, or band by band in ``develop``),
so only embedded previews pass through ``apply_orientation`` whole.
Cameras store previews in sensor orientation, but some converters store them already
rotated; ``preview_needs_rotation`` tells the two apart by the preview's aspect, which
is the mistake behind portrait RAWs shown sideways or rotated twice elsewhere.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

Pixels = npt.NDArray[np.uint8]
# A decoded picture: a Pillow image, or an RGB array (a JPEG decoder's or a develop's).
Picture = Image.Image | Pixels

_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# LibRaw's ``sizes.flip`` codes and the EXIF orientation each stands for.
_LIBRAW_FLIP_TO_EXIF = {0: 1, 3: 3, 5: 8, 6: 6}


def exif_from_libraw_flip(flip: int) -> int:
    return _LIBRAW_FLIP_TO_EXIF.get(flip, 1)


def swaps_axes(orientation: int) -> bool:
    """True for the orientations that turn a landscape frame into a portrait one."""
    return orientation in (5, 6, 7, 8)


def displayed_size(width: int, height: int, orientation: int) -> tuple[int, int]:
    return (height, width) if swaps_axes(orientation) else (width, height)


def preview_needs_rotation(
    preview_size: tuple[int, int], sensor_size: tuple[int, int] | None, orientation: int
) -> bool:
    """Decide whether a preview's pixels are still in sensor orientation.

    For a quarter turn the answer shows in the aspect: a preview whose long side lies
    along the sensor's is unrotated. A square frame or a 180 degree turn cannot be told
    apart; cameras write those unrotated, so rotation is applied.
    """
    if orientation == 1:
        return False
    if not swaps_axes(orientation) or sensor_size is None:
        return True
    pw, ph = preview_size
    sw, sh = sensor_size
    if pw == ph or sw == sh:
        return True
    return (pw > ph) == (sw > sh)


def as_image(picture: Picture) -> Image.Image:
    return picture if isinstance(picture, Image.Image) else Image.fromarray(picture)


def apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return image if method is None else image.transpose(method)


def apply_orientation_pixels(pixels: npt.NDArray[Any], orientation: int) -> npt.NDArray[Any]:
    """``apply_orientation`` for an RGB or grey array of 8 or 16 bits: the same pixels,
    without Pillow (16-bit RGB has no Pillow mode)."""
    if orientation == 2:
        return np.asarray(cv2.flip(pixels, 1))
    if orientation == 3:
        return np.asarray(cv2.rotate(pixels, cv2.ROTATE_180))
    if orientation == 4:
        return np.asarray(cv2.flip(pixels, 0))
    if orientation == 5:
        return np.asarray(cv2.transpose(pixels))
    if orientation == 6:
        return np.asarray(cv2.rotate(pixels, cv2.ROTATE_90_CLOCKWISE))
    if orientation == 7:
        return np.asarray(cv2.flip(cv2.transpose(pixels), -1))
    if orientation == 8:
        return np.asarray(cv2.rotate(pixels, cv2.ROTATE_90_COUNTERCLOCKWISE))
    return pixels
