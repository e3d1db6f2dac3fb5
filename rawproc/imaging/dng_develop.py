"""Developing the DNGs the engine reads itself (``dng_decode``), band by band.

A LinearRaw image (three samples a pixel, already demosaiced) goes through the DNG
pipeline: LinearizationTable, BlackLevel (its repeat pattern and one level per sample),
WhiteLevel, the white balance of AsShotNeutral (highlights clipped at the white point,
as LibRaw clips them), 2 ** BaselineExposure, then the camera-to-sRGB matrix of
``dng_colour`` and the output stage every sensor render shares (``camera_to_output``:
hue-preserving gamut mapping and the sRGB curve, white at the normalised white level).
A CFA image (a Bayer mosaic) is handed to ``develop``'s band developer with the levels,
white balance and matrix read from the DNG. Orientation is applied to the result.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

from .develop import (
    SRGB_ONLY,
    Developed,
    Outputs,
    SensorData,
    camera_to_output,
    camera_to_wide,
    develop_mosaic,
)
from .dng import LINEAR_RAW, SAMPLE_FLOAT, DngHeader, RawImage
from .dng_colour import ColourTransform, colour_transform
from .dng_decode import Buffer, Samples, read_samples
from .errors import SENSOR_DATA_UNREADABLE, SensorDataUnusable
from .orientation import apply_orientation, apply_orientation_pixels, as_image

F32 = npt.NDArray[np.float32]

# Rows developed together.
_BAND_ROWS = 128
# The 16-bit scale ``camera_to_output`` takes, and the level it shows as white.
_FULL_SCALE = 65535.0


def develop_dng(
    data: Buffer,
    header: DngHeader,
    name: str,
    *,
    half_size: bool,
    orientation: int,
    outputs: Outputs = SRGB_ONLY,
) -> Developed:
    """Render the raw image of the DNG in ``data`` to sRGB and/or 16-bit ProPhoto
    (``outputs``), turned by ``orientation``."""
    image = header.image
    samples = read_samples(data, image, name)
    transform = colour_transform(header.colour)
    if image.photometric == LINEAR_RAW and image.samples == 3:
        result = develop_linear(
            samples,
            image,
            transform,
            header.colour.baseline_exposure,
            half_size=half_size,
            outputs=outputs,
        )
        return Developed(
            None if result.srgb is None else apply_orientation(as_image(result.srgb), orientation),
            None if result.wide is None else apply_orientation_pixels(result.wide, orientation),
        )
    if image.cfa_pattern is not None and image.samples == 1:
        return develop_mosaic(
            sensor_data(samples, image, transform),
            half_size=half_size,
            orientation=orientation,
            outputs=outputs,
        )
    raise SensorDataUnusable(
        name,
        SENSOR_DATA_UNREADABLE,
        f"raw image of photometric interpretation {image.photometric}, {image.samples} samples",
    )


def sensor_data(samples: Samples, image: RawImage, transform: ColourTransform) -> SensorData:
    """A CFA raw image's visible mosaic and what ``develop_mosaic`` needs to render it."""
    top, left, bottom, right = image.area
    plane = samples[top:bottom, left:right, 0]
    mosaic = _as_uint16(plane, image)
    assert image.cfa_pattern is not None
    pattern = tuple(int(c) for c in image.cfa_pattern)
    rows, columns = image.black_repeat
    black = np.asarray(image.black, dtype=np.float64).reshape(rows, columns)
    scale = 1.0 if image.sample_format != SAMPLE_FLOAT else _float_scale(image)
    quad = tuple(float(black[(i // 2) % rows, (i % 2) % columns]) * scale for i in range(4))
    balance = tuple(1.0 / v for v in transform.neutral)
    return SensorData(
        mosaic=mosaic,
        pattern=(pattern[0], pattern[1], pattern[2], pattern[3]),
        black=(quad[0], quad[1], quad[2], quad[3]),
        white=float(image.white[0]) * scale,
        balance=(balance[0], balance[1], balance[2]),
        camera_to_srgb=transform.camera_to_srgb,
    )


def _as_uint16(plane: Samples, image: RawImage) -> npt.NDArray[np.uint16]:
    """The mosaic as 16-bit integers: floats scaled so their white level is 65535, a
    LinearizationTable applied."""
    if image.sample_format == SAMPLE_FLOAT:
        with np.errstate(invalid="ignore", over="ignore"):  # NaN and infinities: damaged data
            scaled = np.asarray(plane, dtype=np.float32) * np.float32(_float_scale(image))
        clipped: npt.NDArray[np.float32] = np.clip(np.nan_to_num(scaled), 0, _FULL_SCALE)
        return clipped.astype(np.uint16)
    if image.linearization is not None:
        table = np.asarray(image.linearization, dtype=np.uint32)
        return np.clip(table[np.minimum(plane, len(table) - 1)], 0, 0xFFFF).astype(np.uint16)
    return np.asarray(plane).astype(np.uint16)


def _float_scale(image: RawImage) -> float:
    """What floating-point samples are multiplied by to put their white level at 65535."""
    return _FULL_SCALE / max(1e-6, *image.white)


def develop_linear(
    samples: Samples,
    image: RawImage,
    transform: ColourTransform,
    baseline_exposure: float,
    *,
    half_size: bool,
    outputs: Outputs = SRGB_ONLY,
) -> Developed:
    """A LinearRaw image (H x W x 3 as stored) developed to 8-bit sRGB and/or 16-bit
    ProPhoto, band by band."""
    top, left, bottom, right = image.area
    factor = 2 if half_size else 1
    width, height = (right - left) // factor, (bottom - top) // factor
    if width < 1 or height < 1:
        raise ValueError(f"a {right - left}x{bottom - top} picture has no half-size render")
    result = Image.new("RGB", (width, height), None) if outputs.srgb else None
    wide = np.empty((height, width, 3), np.uint16) if outputs.wide else None
    levels = _Levels(image, transform, baseline_exposure)
    for row in range(0, height, _BAND_ROWS // factor):
        rows = min(_BAND_ROWS // factor, height - row)
        first = top + row * factor
        band = samples[first : first + rows * factor, left : left + width * factor]
        linear = levels.balanced(band, first - top)
        if half_size:
            linear = linear.reshape(rows, 2, width, 2, 3).mean(axis=(1, 3), dtype=np.float32)
        if wide is not None:
            wide[row : row + rows] = camera_to_wide(
                linear, transform.camera_to_srgb, int(_FULL_SCALE)
            )
        if result is not None:
            rgb = camera_to_output(linear, transform.camera_to_srgb, int(_FULL_SCALE))
            result.paste(Image.fromarray(rgb), (0, row))
    return Developed(result, wide)


class _Levels:
    """Stored samples to white-balanced camera colour scaled to 16 bits."""

    def __init__(
        self, image: RawImage, transform: ColourTransform, baseline_exposure: float
    ) -> None:
        rows, columns = image.black_repeat
        self.black = np.asarray(image.black, dtype=np.float32).reshape(rows, columns, 3)
        white = np.asarray(image.white, dtype=np.float32)
        black_mean = self.black.mean(axis=(0, 1))
        self.range = np.maximum(white - black_mean, np.float32(1e-6))
        self.neutral = np.asarray(transform.neutral, dtype=np.float32)
        self.gain = np.float32(_FULL_SCALE * 2.0 ** max(-10.0, min(10.0, baseline_exposure)))
        self.table = (
            np.asarray(image.linearization, dtype=np.float32)
            if image.linearization is not None and image.sample_format != SAMPLE_FLOAT
            else None
        )

    def balanced(self, band: Samples, phase_row: int) -> F32:
        """``band`` (rows starting ``phase_row`` rows into the picture) balanced and scaled."""
        if self.table is not None:
            values = self.table[np.minimum(band, len(self.table) - 1)]
        else:
            values = np.nan_to_num(np.asarray(band, dtype=np.float32))
        rows, columns = self.black.shape[:2]
        if rows * columns > 1:
            row_phase = (np.arange(band.shape[0]) + phase_row) % rows
            column_phase = np.arange(band.shape[1]) % columns
            values = values - self.black[row_phase[:, None], column_phase[None, :]]
        else:
            values = values - self.black[0, 0]
        values /= self.range
        values /= self.neutral
        np.clip(values, 0, 1, out=values)  # highlights clipped at the white point
        values *= self.gain
        return np.ascontiguousarray(values, dtype=np.float32)
