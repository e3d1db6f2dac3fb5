"""The 16-bit wide-gamut output: ProPhoto RGB (ROMM RGB) with its ICC profile.

The ``tiff16`` rendition is a master for editing, so its space is the one raw editors keep
16-bit masters in: ProPhoto RGB (ROMM RGB, ISO 22028-2), whose primaries hold every
surface colour and nearly all of what camera matrices give, white D50 (the ICC's own
connection white, so no adaptation in the profile). Its curve is a pure power of
461/256 (1.80078), the u8Fixed8 form of ROMM's 1.8 that Adobe's ProPhoto profile stores;
the pixels are encoded with exactly the curve the profile declares. A gamma-encoded space
spends its 65536 codes evenly in lightness, so shadows keep their steps where a linear
16-bit file would leave the darkest stop with a few hundred codes.

Colours go from the renderer's linear sRGB (D65) to ProPhoto (D50) by Bradford's
adaptation, the matrix LibRaw uses for its ProPhoto output (equal to four decimals).
"""

from __future__ import annotations

from functools import cache, lru_cache

import cv2
import numpy as np
import numpy.typing as npt

from .icc import (
    D65_XY,
    adapted_to_d50,
    matrix_trc_icc,
    xyz_from_rgb,
)

U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

# ROMM RGB's primaries and white (D50) as CIE 1931 xy (ISO 22028-2).
PROPHOTO_PRIMARIES = ((0.7347, 0.2653), (0.1596, 0.8404), (0.0366, 0.0001))
D50_XY = (0.3457, 0.3585)
SRGB_PRIMARIES = ((0.6400, 0.3300), (0.3000, 0.6000), (0.1500, 0.0600))
# The curve's exponent as an ICC u8Fixed8Number stores it: 461/256.
PROPHOTO_GAMMA_U8F8 = 461
PROPHOTO_GAMMA = PROPHOTO_GAMMA_U8F8 / 256
# Encoding lookups are indexed by linear 16-bit level times this: a quarter level apart,
# finer than the sensor data (14 bits stretched to 16) ever is.
_STEPS_PER_LEVEL = 4
# Rows converted together when an 8-bit sRGB image is made from a 16-bit one.
_BAND_ROWS = 256


def _prophoto_d50() -> F64:
    return adapted_to_d50(xyz_from_rgb(PROPHOTO_PRIMARIES, D50_XY), D50_XY)


def _srgb_d50() -> F64:
    return adapted_to_d50(xyz_from_rgb(SRGB_PRIMARIES, D65_XY), D65_XY)


PROPHOTO_FROM_SRGB: F32 = (np.linalg.inv(_prophoto_d50()) @ _srgb_d50()).astype(np.float32)
SRGB_FROM_PROPHOTO: F32 = (np.linalg.inv(_srgb_d50()) @ _prophoto_d50()).astype(np.float32)
# What rawpy takes for this curve: (power, toe slope); a slope of 0 is a pure power.
LIBRAW_GAMMA = (PROPHOTO_GAMMA, 0.0)


@cache
def prophoto_icc() -> bytes:
    """The ICC profile of the ``tiff16`` renditions: ProPhoto RGB, gamma 461/256."""
    return matrix_trc_icc(
        _prophoto_d50(),
        PROPHOTO_GAMMA_U8F8,
        "ProPhoto RGB (ROMM) compatible",
        "No copyright: built from the published ROMM RGB definition (ISO 22028-2)",
    )


@lru_cache(maxsize=16)
def _encode_lut(white: int) -> U16:
    """Linear level (times ``_STEPS_PER_LEVEL``, ``white`` at the top) to 16-bit ProPhoto."""
    steps = max(1, white) * _STEPS_PER_LEVEL
    r = np.arange(steps + 1, dtype=np.float64) / steps
    return np.round(np.power(r, 1 / PROPHOTO_GAMMA) * 65535).astype(np.uint16)


def encode_linear(rgb: F32, white: float) -> U16:
    """Linear ProPhoto RGB (H x W x 3, ``white`` shown as 1) to 16-bit gamma-encoded samples,
    in place in ``rgb``'s buffer (which it scales); values above ``white`` clip."""
    level = max(1, round(white))
    rgb *= np.float32(_STEPS_PER_LEVEL * level / max(white, 1e-6))
    rgb += np.float32(0.5)  # rounds to the nearest step when truncated below
    index = np.clip(rgb, 0, level * _STEPS_PER_LEVEL, out=rgb).astype(np.int32)
    encoded: U16 = np.take(_encode_lut(level), index)
    return encoded


@cache
def _decode_lut() -> F32:
    """16-bit ProPhoto sample to linear light (0..1)."""
    return np.power(np.arange(65536, dtype=np.float64) / 65535, PROPHOTO_GAMMA).astype(np.float32)


@cache
def _srgb_lut() -> U8:
    """Linear light in 1/65535 steps to 8-bit sRGB (IEC 61966-2-1)."""
    r = np.arange(65536, dtype=np.float64) / 65535
    curve = np.where(r <= 0.0031308, r * 12.92, 1.055 * np.power(r, 1 / 2.4) - 0.055)
    return np.round(curve * 255).astype(np.uint8)


def srgb8_from_wide(wide: U16) -> U8:
    """A 16-bit ProPhoto image (H x W x 3) as 8-bit sRGB, band by band.

    Colours outside sRGB are clipped per channel, as LibRaw's own sRGB output clips them.
    """
    out = np.empty(wide.shape, dtype=np.uint8)
    decode, encode = _decode_lut(), _srgb_lut()
    for top in range(0, wide.shape[0], _BAND_ROWS):
        linear = np.take(decode, wide[top : top + _BAND_ROWS])
        srgb = np.asarray(cv2.transform(linear, SRGB_FROM_PROPHOTO))
        np.clip(srgb, 0, 1, out=srgb)
        out[top : top + _BAND_ROWS] = np.take(encode, (srgb * 65535 + 0.5).astype(np.uint16))
    return out


def fit_wide(image: U16, long_edge: int) -> U16:
    """Scale a 16-bit image so its long edge is ``long_edge`` (never upscaled).

    The sizes are the 8-bit renditions' (``engine._fit``); Pillow has no 16-bit RGB mode,
    so OpenCV's area filter resamples it, at 16 bits.
    """
    height, width = image.shape[:2]
    current = max(width, height)
    if long_edge >= current:
        return image
    scale = long_edge / current
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized: U16 = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    return resized
