"""Colour on every path: Adobe RGB previews, the sRGB curve, hue-preserving gamut mapping."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from rawproc.imaging import RenditionSpec, process_raw
from rawproc.imaging.develop import _tone_curve, camera_to_output, develop, fit_to_gamut
from rawproc.imaging.icc import adobe_rgb_colourants, adobe_rgb_icc
from rawproc.imaging.preview import (
    ADOBE_RGB,
    SRGB,
    EmbeddedPreview,
    container_colour_space,
    decode_preview,
)
from rawproc.imaging.rawfile import open_raw
from tests.fixtures.dngmaker import (
    LONG,
    SHORT,
    Blob,
    Ifd,
    ascii_entry,
    int_entry,
    make_dng,
    write_tiff,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # colour-science warns that SciPy is missing
    import colour

SRGB_SPACE = colour.RGB_COLOURSPACES["sRGB"]
ADOBE_SPACE = colour.RGB_COLOURSPACES["Adobe RGB (1998)"]
# A saturated green inside sRGB, and its Adobe RGB (1998) code values (colour-science).
GREEN_SRGB = np.array([50, 170, 60])
GREEN_ADOBE = np.round(
    255
    * colour.RGB_to_RGB(
        GREEN_SRGB / 255,
        SRGB_SPACE,
        ADOBE_SPACE,
        apply_cctf_decoding=True,
        apply_cctf_encoding=True,
    )
).astype(np.uint8)
INTEROP_R03 = "R03"
WHITE = 60000
IDENTITY = np.eye(3, dtype=np.float32)


def _tiff_bytes(tmp_path: Path, ifd0: Ifd) -> bytes:
    path = tmp_path / "exif.tif"
    write_tiff(path, ifd0)
    return path.read_bytes()


def _exif_ifd(colour_space: int, interop: str | None) -> Ifd:
    exif = Ifd([int_entry(0xA001, SHORT, colour_space)])
    if interop is not None:
        exif.links[0xA005] = [Ifd([ascii_entry(0x0001, interop)])]
    return exif


def _green_jpeg(*, icc: bytes | None = None, exif: bytes | None = None) -> bytes:
    image = Image.new("RGB", (128, 96), tuple(int(v) for v in GREEN_ADOBE))
    out = io.BytesIO()
    params: dict[str, object] = {"quality": 95, "subsampling": 0}
    if icc is not None:
        params["icc_profile"] = icc
    if exif is not None:
        params["exif"] = exif
    image.save(out, "JPEG", **params)
    return out.getvalue()


def _centre(image: Image.Image) -> np.ndarray:
    pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    h, w = pixels.shape[:2]
    return np.asarray(pixels[h // 4 : -h // 4, w // 4 : -w // 4].reshape(-1, 3).mean(axis=0))


def _assert_green_in_srgb(image: Image.Image) -> None:
    got = _centre(image)
    assert np.abs(got - GREEN_SRGB).max() <= 3, got  # the colour the camera saw
    assert np.abs(got - GREEN_ADOBE).max() > 20  # not the Adobe code values shown as sRGB


def test_the_adobe_rgb_profile_has_the_published_colourants() -> None:
    # Adobe RGB (1998) Color Image Encoding, section 4.3.4.3 (D50-adapted primaries).
    published = np.array(
        [[0.6097, 0.2053, 0.1492], [0.3111, 0.6257, 0.0632], [0.0195, 0.0609, 0.7446]]
    )
    np.testing.assert_allclose(adobe_rgb_colourants(), published, atol=1e-4)
    profile = ImageCms.ImageCmsProfile(io.BytesIO(adobe_rgb_icc()))
    assert "Adobe RGB (1998)" in ImageCms.getProfileDescription(profile)


def test_a_preview_with_an_adobe_rgb_profile_is_converted() -> None:
    preview = EmbeddedPreview(_green_jpeg(icc=adobe_rgb_icc()), 128, 96)
    _assert_green_in_srgb(decode_preview(preview, None))


def test_a_preview_whose_own_exif_says_adobe_rgb_is_converted(tmp_path: Path) -> None:
    ifd0 = Ifd([ascii_entry(0x010F, "NIKON CORPORATION")])
    ifd0.links[0x8769] = [_exif_ifd(0xFFFF, INTEROP_R03)]
    exif = b"Exif\0\0" + _tiff_bytes(tmp_path, ifd0)
    preview = EmbeddedPreview(_green_jpeg(exif=exif), 128, 96)
    _assert_green_in_srgb(decode_preview(preview, None))


@pytest.mark.parametrize(
    ("colour_space", "interop", "expected"),
    [
        (0xFFFF, INTEROP_R03, ADOBE_RGB),
        (2, None, ADOBE_RGB),
        (1, "R98", SRGB),
        (0xFFFF, "R98", SRGB),
    ],
    ids=["uncalibrated-R03", "adobe-2", "srgb", "uncalibrated-R98"],
)
def test_the_raw_files_exif_colour_space_is_read(
    tmp_path: Path, colour_space: int, interop: str | None, expected: str
) -> None:
    path = _tiff_raw(tmp_path, _green_jpeg(), colour_space, interop)
    with open_raw(path) as raw:
        assert container_colour_space(raw) == expected


def _tiff_raw(tmp_path: Path, jpeg: bytes, colour_space: int, interop: str | None) -> Path:
    """A TIFF-structured RAW stub (as a NEF's IFD0, EXIF and interop IFDs) holding a preview
    JPEG without EXIF or ICC profile, as Nikon cameras store it."""
    ifd0 = Ifd(
        [
            ascii_entry(0x010F, "NIKON CORPORATION"),
            ascii_entry(0x0110, "NIKON D7100"),
            int_entry(0x0201 + 1, LONG, len(jpeg)),  # JPEGInterchangeFormatLength
        ],
        {0x0201: [Blob.of(jpeg)]},  # JPEGInterchangeFormat
    )
    ifd0.links[0x8769] = [_exif_ifd(colour_space, interop)]
    path = tmp_path / "adobe.nef"
    write_tiff(path, ifd0)
    return path


def test_a_raw_whose_exif_says_adobe_rgb_renders_its_preview_in_srgb(tmp_path: Path) -> None:
    path = _tiff_raw(tmp_path, _green_jpeg(), 0xFFFF, INTEROP_R03)
    result = process_raw(path, [RenditionSpec("preview", 128, "jpeg", 95)])
    assert result.renditions[0].source == "embedded_preview"
    _assert_green_in_srgb(Image.open(io.BytesIO(result.renditions[0].data)))


def _srgb_encode(linear: np.ndarray) -> np.ndarray:
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def test_sensor_render_shadows_follow_the_srgb_curve(tmp_path: Path) -> None:
    """A grey ramp developed from a synthetic DNG comes back as the sRGB encoding of the
    linear light it was made from (white pinned at saturation by a white patch)."""
    width, height = 512, 128
    scene = np.empty((height, width, 3), np.uint8)
    scene[:] = np.linspace(0, 255, width).round().astype(np.uint8)[None, :, None]
    scene[:, width - 48 :] = 255  # over 1 % of the picture at white pins auto-brightness
    path = make_dng(tmp_path / "ramp.dng", scene=scene, preview="none", seed=None)
    raw = open_raw(path)
    rendered = np.asarray(develop(raw, half_size=False, orientation=1), np.float64)
    row = rendered[height // 2, 8 : width - 64]
    assert np.abs(row[:, 0] - row[:, 1]).max() <= 1 and np.abs(row[:, 2] - row[:, 1]).max() <= 1
    values = scene[height // 2, 8 : width - 64, 1].astype(np.float64)
    linear = colour.models.eotf_sRGB(values / 255)
    expected = 255 * _srgb_encode(linear)
    shadows = values < 80
    assert np.abs(row[shadows, 1] - expected[shadows]).max() <= 2.0
    assert np.abs(row[:, 1] - expected).mean() < 1.0
    # LibRaw's default BT.709 curve would be far darker in the shadows.
    bt709 = 255 * np.where(linear < 0.018, 4.5 * linear, 1.099 * linear**0.45 - 0.099)
    assert np.abs(bt709[shadows] - expected[shadows]).max() > 10


def test_the_output_curve_is_the_srgb_curve() -> None:
    curve = _tone_curve(WHITE).astype(np.float64)
    levels = np.arange(0, WHITE, 7)
    expected = np.floor(255 * _srgb_encode(levels / WHITE) + 0.003)
    assert np.abs(curve[levels] - expected).max() <= 1


def _oklab_hue(xyz: np.ndarray) -> float:
    lab = colour.XYZ_to_Oklab(xyz)
    return float(np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360)


def _hue_error(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


def _xyz_of(rgb8: np.ndarray) -> np.ndarray:
    return np.asarray(colour.RGB_to_XYZ(rgb8 / 255.0, SRGB_SPACE, apply_cctf_decoding=True))


@pytest.mark.parametrize("level", [0.8, 1.5], ids=["saturated", "saturated-and-bright"])
def test_a_violet_stage_light_keeps_its_hue(level: float) -> None:
    """430 nm with some 630 nm: outside sRGB. Clipping each channel turns it toward blue."""
    xyz = colour.wavelength_to_XYZ(430) + 0.15 * colour.wavelength_to_XYZ(630)
    linear = np.asarray(colour.XYZ_to_RGB(xyz, SRGB_SPACE, apply_cctf_encoding=False))
    assert linear.min() < 0  # truly outside sRGB
    scale = level * WHITE / linear.max()
    camera = (linear * scale).reshape(1, 1, 3).astype(np.float32)
    mapped = camera_to_output(camera, IDENTITY, WHITE)[0, 0]
    clipped = np.take(_tone_curve(WHITE), np.clip(camera, 0, 65535).astype(np.uint16))[0, 0]
    reference = _oklab_hue(xyz * scale)
    mapped_error = _hue_error(_oklab_hue(_xyz_of(mapped)), reference)
    clipped_error = _hue_error(_oklab_hue(_xyz_of(clipped)), reference)
    assert mapped_error < 4.0, mapped_error
    assert mapped_error < clipped_error or clipped_error < 2.0


@pytest.mark.parametrize("rgb", [(1.0, 0.45, 0.08), (0.45, 0.65, 1.0), (1.0, 0.62, 0.45)])
def test_a_colour_brighter_than_white_keeps_its_hue(rgb: tuple[float, float, float]) -> None:
    linear = np.array(rgb) * 1.3
    camera = (linear * WHITE).reshape(1, 1, 3).astype(np.float32)
    mapped = camera_to_output(camera, IDENTITY, WHITE)[0, 0]
    reference = _oklab_hue(np.asarray(colour.RGB_to_XYZ(linear, SRGB_SPACE)))
    assert _hue_error(_oklab_hue(_xyz_of(mapped)), reference) < 2.0


def test_neutral_stays_neutral_and_colours_inside_are_untouched() -> None:
    greys = np.linspace(-0.1, 2.0, 64, dtype=np.float32)[:, None, None] * WHITE
    neutral = camera_to_output(np.repeat(greys, 3, axis=2), IDENTITY, WHITE)
    assert (neutral == neutral[..., :1]).all()
    assert neutral[-1, 0, 0] == 255 and neutral[0, 0, 0] == 0
    rng = np.random.default_rng(1)
    inside = rng.uniform(0, WHITE, (32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(fit_to_gamut(inside.copy(), float(WHITE)), inside)
    everything = rng.uniform(-0.5, 2.0, (64, 64, 3)).astype(np.float32) * WHITE
    fitted = fit_to_gamut(everything, float(WHITE))
    assert fitted.min() >= -1e-3 * WHITE and fitted.max() <= WHITE * (1 + 1e-6)
