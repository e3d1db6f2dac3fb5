"""A DNG's camera colour to linear sRGB, as the DNG specification defines it.

White balance comes from ``AsShotNeutral``. With a ``ForwardMatrix`` the white-balanced
camera colour goes to XYZ (D50) through it; without one, through the inverse of the
``ColorMatrix``, its white (the neutral) adapted to D50 by Bradford's transform. Then
XYZ (D50) goes to linear sRGB (D65, Bradford again). Of two calibrations, the one for
D65 is taken, else the one whose illuminant is nearest D65 in colour temperature.
``CameraCalibration`` and ``AnalogBalance`` are not applied (they are identity in the
files seen; a profile's hue/sat maps and look tables are rendering intent, not colour).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .dng import DngColour

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

# Linear sRGB (D65) to XYZ, IEC 61966-2-1's; its white is D65.
_XYZ_FROM_SRGB = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_D65 = _XYZ_FROM_SRGB.sum(axis=1)
_D50 = np.array([0.96422, 1.0, 0.82521])
_BRADFORD = np.array(
    [
        [0.8951, 0.2664, -0.1614],
        [-0.7502, 1.7135, 0.0367],
        [0.0389, -0.0685, 1.0296],
    ]
)
# EXIF LightSource codes and their colour temperatures, to find the calibration nearest D65.
_D65_CODE = 21
_TEMPERATURES = {
    1: 5500,
    2: 4200,
    3: 2850,
    4: 5500,
    9: 5500,
    10: 6500,
    11: 7500,
    12: 6430,
    13: 5000,
    14: 4150,
    15: 3450,
    17: 2856,
    18: 4874,
    19: 6774,
    20: 5503,
    21: 6504,
    22: 7504,
    23: 5003,
    24: 3200,
}


@dataclass(frozen=True)
class ColourTransform:
    """``neutral``: the camera's reading of white (largest 1); ``camera_to_srgb``: camera
    colour divided by ``neutral`` to linear sRGB, white (1, 1, 1) to white."""

    neutral: tuple[float, float, float]
    camera_to_srgb: F32


def colour_transform(colour: DngColour) -> ColourTransform:
    """The white balance and camera-to-sRGB matrix of a DNG; the identity when its
    matrices are missing or singular (the picture is then shown as stored)."""
    index = _calibration(colour)
    colour_matrix = _matrix(colour.color_matrices, index)
    neutral = _neutral(colour, colour_matrix)
    forward = _matrix(colour.forward_matrices, index)
    try:
        if forward is not None:
            xyz_d50 = forward
        elif colour_matrix is not None:
            xyz_d50 = _from_colour_matrix(colour_matrix, neutral)
        else:
            xyz_d50 = _adaptation(_D65, _D50) @ _XYZ_FROM_SRGB
        srgb = np.linalg.inv(_XYZ_FROM_SRGB) @ _adaptation(_D50, _D65) @ xyz_d50
    except np.linalg.LinAlgError:
        srgb = np.eye(3)
    if not np.all(np.isfinite(srgb)):
        srgb = np.eye(3)
    return ColourTransform(neutral, srgb.astype(np.float32))


def _calibration(colour: DngColour) -> int:
    """Index of the calibration to use: D65's, else the nearest in colour temperature."""
    illuminants = colour.illuminants
    if _D65_CODE in illuminants:
        return illuminants.index(_D65_CODE)
    if not illuminants:
        return 0
    distances = [abs(_TEMPERATURES.get(code, 5000) - 6504) for code in illuminants]
    return distances.index(min(distances))


def _matrix(matrices: tuple[tuple[float, ...], ...], index: int) -> F64 | None:
    if not matrices:
        return None
    values = matrices[min(index, len(matrices) - 1)]
    return np.asarray(values, dtype=np.float64).reshape(3, 3)


def _neutral(colour: DngColour, colour_matrix: F64 | None) -> tuple[float, float, float]:
    """AsShotNeutral, else the camera's reading of D65 white; scaled so its largest is 1."""
    if colour.as_shot_neutral is not None and min(colour.as_shot_neutral) > 0:
        values = np.asarray(colour.as_shot_neutral, dtype=np.float64)
    elif colour_matrix is not None and np.all(colour_matrix @ _D65 > 0):
        values = colour_matrix @ _D65
    else:
        values = np.ones(3)
    values = values / values.max()
    return float(values[0]), float(values[1]), float(values[2])


def _from_colour_matrix(colour_matrix: F64, neutral: tuple[float, float, float]) -> F64:
    """White-balanced camera colour to XYZ (D50) through the inverse ColorMatrix."""
    camera_to_xyz = np.linalg.inv(colour_matrix)
    white = camera_to_xyz @ np.asarray(neutral)
    if not white[1] > 0:
        raise np.linalg.LinAlgError("the neutral maps to no brightness")
    white = white / white[1]
    balanced_to_xyz = camera_to_xyz @ np.diag(neutral) / (camera_to_xyz @ neutral)[1]
    result: F64 = _adaptation(white, _D50) @ balanced_to_xyz
    return result


def _adaptation(source: F64, target: F64) -> F64:
    """Bradford's chromatic adaptation from white ``source`` to white ``target`` (XYZ)."""
    gains = (_BRADFORD @ target) / (_BRADFORD @ source)
    result: F64 = np.linalg.inv(_BRADFORD) @ np.diag(gains) @ _BRADFORD
    return result
