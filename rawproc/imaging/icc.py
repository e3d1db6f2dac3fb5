"""ICC profiles the engine needs but LittleCMS does not build in: Adobe RGB (1998) here,
ProPhoto RGB (``wide``) with the same matrix/TRC builder.

Pillow's ``ImageCms.createProfile`` makes sRGB, Lab and XYZ only. Adobe RGB (1998) is a
plain matrix/curve RGB space, so its profile is written here from the published
definition (Adobe RGB (1998) Color Image Encoding, version 2005-05, section 4.3): the
primaries and white point as CIE xy chromaticities, a pure power curve of 563/256
(2.19921875), and the colourants adapted to the ICC's D50 connection space with the
Bradford transform, which gives the colourants of Adobe's own profile to four decimals.
Nothing is downloaded or read from disk; the bytes are built once per process.
"""

from __future__ import annotations

import struct
from functools import cache

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

# Adobe RGB (1998): red, green, blue and white (D65) as CIE 1931 xy.
ADOBE_RGB_PRIMARIES = ((0.6400, 0.3300), (0.2100, 0.7100), (0.1500, 0.0600))
D65_XY = (0.3127, 0.3290)
# The encoding's gamma, 2 + 51/256, stored exactly by an ICC u8Fixed8Number.
ADOBE_RGB_GAMMA_U8F8 = 563
# The ICC profile connection space's illuminant (D50), as the ICC specification gives it.
D50_XYZ = (0.9642, 1.0, 0.8249)
_BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)
_DESCRIPTION = "Adobe RGB (1998) compatible"
_COPYRIGHT = "No copyright: built from the published Adobe RGB (1998) definition"


def _xyz(xy: tuple[float, float]) -> F64:
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y])


def xyz_from_rgb(primaries: tuple[tuple[float, float], ...], white: tuple[float, float]) -> F64:
    """The linear RGB to XYZ matrix of an RGB space: columns are its primaries, white Y=1."""
    columns = np.stack([_xyz(p) for p in primaries], axis=1)
    weights = np.linalg.solve(columns, _xyz(white))
    matrix: F64 = columns * weights
    return matrix


def adapted_to_d50(matrix: F64, white: tuple[float, float]) -> F64:
    """``matrix`` (RGB to XYZ under ``white``) chromatically adapted to D50 by Bradford."""
    source = _BRADFORD @ _xyz(white)
    target = _BRADFORD @ np.array(D50_XYZ)
    adaptation = np.linalg.inv(_BRADFORD) @ np.diag(target / source) @ _BRADFORD
    adapted: F64 = adaptation @ matrix
    return adapted


def adobe_rgb_colourants() -> F64:
    """Adobe RGB (1998)'s primaries in the D50 connection space (columns R, G, B)."""
    return adapted_to_d50(xyz_from_rgb(ADOBE_RGB_PRIMARIES, D65_XY), D65_XY)


def _s15f16(*values: float) -> bytes:
    return struct.pack(f">{len(values)}i", *(round(v * 65536) for v in values))


def _xyz_tag(xyz: tuple[float, float, float] | F64) -> bytes:
    return b"XYZ \0\0\0\0" + _s15f16(*(float(v) for v in xyz))


def _desc_tag(text: str) -> bytes:
    """An ICC v2 ``textDescriptionType``: ASCII, then empty Unicode and ScriptCode parts."""
    ascii_text = text.encode("ascii") + b"\0"
    return (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_text))
        + ascii_text
        + struct.pack(">II", 0, 0)  # Unicode language code and count
        + struct.pack(">HB", 0, 0)  # ScriptCode code and count
        + bytes(67)
    )


def _profile(tags: list[tuple[bytes, bytes]]) -> bytes:
    """An ICC v2.1 display profile (RGB device, XYZ connection space) holding ``tags``.

    Tags with equal data share one copy, as the three tone curves do.
    """
    table_size = 4 + 12 * len(tags)
    body = bytearray()
    placed: dict[bytes, tuple[int, int]] = {}
    entries = []
    for signature, data in tags:
        if data not in placed:
            placed[data] = (128 + table_size + len(body), len(data))
            body += data + bytes(-len(data) % 4)
        offset, size = placed[data]
        entries.append(signature + struct.pack(">II", offset, size))
    total = 128 + table_size + len(body)
    header = (
        struct.pack(">I", total)
        + bytes(4)  # preferred CMM: none
        + struct.pack(">I", 0x02100000)  # version 2.1
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        + b"acsp"
        + bytes(4 + 4 + 4 + 4 + 8)  # platform, flags, manufacturer, model, attributes
        + struct.pack(">I", 0)  # rendering intent: perceptual
        + _s15f16(*D50_XYZ)
        + bytes(4 + 16 + 28)  # creator, profile ID, reserved
    )
    assert len(header) == 128
    table = struct.pack(">I", len(tags)) + b"".join(entries)
    return header + table + bytes(body)


def matrix_trc_icc(colourants: F64, gamma_u8f8: int, description: str, copyright: str) -> bytes:
    """A matrix/TRC RGB display profile: ``colourants`` (D50, columns R, G, B) and one pure
    power curve of ``gamma_u8f8`` / 256 for the three channels."""
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, gamma_u8f8) + bytes(2)
    return _profile(
        [
            (b"desc", _desc_tag(description)),
            (b"cprt", b"text\0\0\0\0" + copyright.encode("ascii") + b"\0"),
            (b"wtpt", _xyz_tag(D50_XYZ)),
            (b"rXYZ", _xyz_tag(colourants[:, 0])),
            (b"gXYZ", _xyz_tag(colourants[:, 1])),
            (b"bXYZ", _xyz_tag(colourants[:, 2])),
            (b"rTRC", curve),
            (b"gTRC", curve),
            (b"bTRC", curve),
        ]
    )


@cache
def adobe_rgb_icc() -> bytes:
    """The bytes of an Adobe RGB (1998) ICC profile, for LittleCMS (``ImageCms``)."""
    return matrix_trc_icc(adobe_rgb_colourants(), ADOBE_RGB_GAMMA_U8F8, _DESCRIPTION, _COPYRIGHT)
