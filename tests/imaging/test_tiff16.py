"""The ``tiff16`` rendition: a 16-bit ProPhoto RGB TIFF with its ICC profile, made from the
sensor data of every kind of file the engine develops (its own Bayer pipeline, its own DNG
reader, LibRaw's pipeline), turned and sized as the 8-bit renditions are, and refused,
with the sensor data's problem, for a file whose sensor data is unusable."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import tifffile
from PIL import Image, ImageCms

from rawproc.imaging import EngineOptions, ImagingError, RenditionSpec, process_raw
from rawproc.imaging.errors import SensorDataUnusable
from rawproc.imaging.wide import PROPHOTO_FROM_SRGB, PROPHOTO_GAMMA, prophoto_icc
from tests.fixtures.dngmaker import DNG_KINDS, make_dng, make_kind_dng
from tests.samples import FIXTURES, sample

U16 = npt.NDArray[np.uint16]
F64 = npt.NDArray[np.float64]

MASTER = RenditionSpec("master", None, "tiff16")
SMALL_MASTER = RenditionSpec("small", 256, "tiff16")
# The 8-bit rendition each master is compared with: full size, little JPEG loss.
FULL_JPEG = RenditionSpec("fulljpeg", None, "jpeg", 95)
FORCE = EngineOptions(force_sensor=True)
SRGB = ImageCms.createProfile("sRGB")

Maker = Callable[[Path, int], Path]


def _bayer(tmp: Path, orientation: int) -> Path:
    return make_dng(tmp / "bayer.dng", orientation=orientation)


def _kind(kind: str) -> Maker:
    def make(tmp: Path, orientation: int) -> Path:
        return make_kind_dng(tmp / f"{kind}.dng", orientation=orientation, **DNG_KINDS[kind]).path

    return make


# Each path that develops sensor data: the band developer through LibRaw (plain Bayer
# DNG), and the engine's own DNG reader for LinearRaw, JPEG XL and floating-point kinds.
KINDS: dict[str, Maker] = {
    "bayer-libraw-opened": _bayer,
    **{
        kind: _kind(kind)
        for kind in (
            "linear-uint8",
            "linear-uint16",
            "linear-float32",
            "linear-jxl-tiled",
            "bayer-jxl-tiled",
            "bayer-float32-deflate",
            "linear-forward-exposure",
        )
    },
}


def _tiff(data: bytes) -> tuple[U16, tifffile.TiffPage]:
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages[0]
        assert isinstance(page, tifffile.TiffPage)
        return page.asarray(), page


def _to_srgb(image: U16, icc: bytes) -> F64:
    """The TIFF converted to sRGB by LittleCMS through its own embedded profile."""
    eight = Image.fromarray(((image.astype(np.uint32) + 128) >> 8).clip(0, 255).astype(np.uint8))
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    converted = ImageCms.profileToProfile(eight, profile, SRGB, outputMode="RGB")
    assert isinstance(converted, Image.Image)
    return np.asarray(converted, dtype=np.float64)


def _decoded(data: bytes) -> F64:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)


@pytest.mark.parametrize("orientation", [1, 6, 3])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_master_of_every_kind(tmp_path: Path, kind: str, orientation: int) -> None:
    path = KINDS[kind](tmp_path, orientation)
    result = process_raw(path, (MASTER, FULL_JPEG, SMALL_MASTER), FORCE)
    assert not result.degraded
    master, jpeg, small = result.renditions
    assert master.spec.content_type == "image/tiff" and master.spec.extension == "tif"
    image, page = _tiff(master.data)
    # 16-bit RGB, the displayed orientation in the pixels, no Orientation tag to apply.
    assert image.dtype == np.uint16 and image.ndim == 3 and image.shape[2] == 3
    assert page.photometric == tifffile.PHOTOMETRIC.RGB
    assert page.tags.get("Orientation") is None
    assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
    assert page.predictor == tifffile.PREDICTOR.HORIZONTAL
    height, width = image.shape[:2]
    assert (width, height) == (jpeg.width, jpeg.height) == (master.width, master.height)
    assert (height > width) == (orientation == 6)
    # The sized master: the same long-edge rule as 8-bit renditions, same aspect.
    small_image, _ = _tiff(small.data)
    assert max(small_image.shape[:2]) == 256
    assert (small_image.shape[0] > small_image.shape[1]) == (height > width)
    # The embedded profile is ProPhoto's, and through it the master shows what the 8-bit
    # rendition of the same develop shows.
    icc = page.tags["InterColorProfile"].value
    assert bytes(icc) == prophoto_icc()
    shown = _to_srgb(image, bytes(icc))
    difference = np.abs(shown - _decoded(jpeg.data)).mean()
    assert difference < 2.5, difference


def test_profile_is_prophoto_by_littlecms() -> None:
    """Colours encoded with the engine's ProPhoto matrix and curve come back as the same
    sRGB colours through LittleCMS and the embedded profile: the profile says what the
    pixels are."""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(prophoto_icc()))
    assert "ProPhoto" in ImageCms.getProfileDescription(profile)
    assert profile.profile.xcolor_space.strip() == "RGB"
    assert profile.profile.connection_space.strip() == "XYZ"
    rng = np.random.default_rng(3)
    srgb8 = rng.integers(10, 245, (64, 64, 3)).astype(np.float64)
    srgb_linear = np.where(
        srgb8 / 255 <= 0.04045, srgb8 / 255 / 12.92, ((srgb8 / 255 + 0.055) / 1.055) ** 2.4
    )
    prophoto = np.clip(srgb_linear @ PROPHOTO_FROM_SRGB.T.astype(np.float64), 0, 1)
    encoded = np.round(prophoto ** (1 / PROPHOTO_GAMMA) * 255).astype(np.uint8)
    back = ImageCms.profileToProfile(Image.fromarray(encoded), profile, SRGB, outputMode="RGB")
    assert isinstance(back, Image.Image)
    # 8-bit ProPhoto quantises more coarsely than sRGB: about a level either way.
    assert np.abs(np.asarray(back, np.float64) - srgb8).mean() < 1.2


@pytest.mark.parametrize("kind", ["bayer-libraw-opened", "linear-uint16", "bayer-jxl-tiled"])
def test_gradient_has_more_than_256_levels(tmp_path: Path, kind: str) -> None:
    ramp = np.linspace(0, 255, 512)
    scene = np.repeat(ramp[None, :, None], 64, axis=0).repeat(3, axis=2).astype(np.uint8)
    if kind == "bayer-libraw-opened":
        path = make_dng(tmp_path / "ramp.dng", scene=scene)
    else:
        path = make_kind_dng(tmp_path / "ramp.dng", scene=scene, **DNG_KINDS[kind]).path
    master = process_raw(path, (MASTER,), FORCE).renditions[0]
    image, _ = _tiff(master.data)
    green = image[16:48, 8:-8, 1]
    assert len(np.unique(green)) > 256
    columns = green.astype(np.float64).mean(axis=0)
    assert np.all(np.diff(columns[::16]) > 0)  # a ramp still, brighter to the right


@pytest.mark.parametrize("kind", ["bayer-libraw-opened", "linear-uint16", "bayer-jxl-tiled"])
def test_8bit_renditions_unchanged_by_a_master_in_the_job(tmp_path: Path, kind: str) -> None:
    """One develop feeds both outputs: the 8-bit renditions are the bytes an 8-bit-only
    job makes."""
    path = KINDS[kind](tmp_path, 6)
    eight = (FULL_JPEG, RenditionSpec("preview", 300, "webp"))
    alone = process_raw(path, eight, FORCE)
    together = process_raw(path, (*eight, MASTER), FORCE)
    for a, b in zip(alone.renditions, together.renditions[:2], strict=True):
        assert a.data == b.data and a.source == b.source


def test_master_never_from_the_preview(tmp_path: Path) -> None:
    """A sized master comes from the sensor even when the embedded preview would serve an
    8-bit rendition of that size (and still serves it)."""
    path = make_dng(tmp_path / "p.dng", width=600, height=400, preview_size=600)
    small_jpeg = RenditionSpec("small", 200)
    result = process_raw(path, (small_jpeg, RenditionSpec("m", 200, "tiff16")))
    assert [r.source for r in result.renditions] == ["embedded_preview", "half_size"]
    image, _ = _tiff(result.renditions[1].data)
    assert image.dtype == np.uint16 and max(image.shape[:2]) == 200


def _noise(raw: npt.NDArray[np.uint16]) -> npt.NDArray[np.uint16]:
    rng = np.random.default_rng(0)
    return rng.integers(int(raw.min()), int(raw.max()) + 1, raw.shape).astype(np.uint16)


def _garbled(tmp: Path) -> Path:
    return make_dng(tmp / "garbled.dng", garble=_noise)


def _truncated(tmp: Path) -> Path:
    return FIXTURES / "raw" / "nikon_d7100_truncated.nef"


@pytest.mark.parametrize("make", [_garbled, _truncated], ids=["garbled", "truncated"])
def test_unusable_sensor_data_refuses_the_master(
    tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    """A file whose sensor data is unusable still gives 8-bit renditions from its preview;
    a job that asks for a master fails, saying why, with the metadata record."""
    path = make(tmp_path)
    degraded = process_raw(path, (FULL_JPEG,))
    assert degraded.degraded
    with pytest.raises(SensorDataUnusable) as caught:
        process_raw(path, (FULL_JPEG, MASTER))
    error = caught.value
    assert isinstance(error, ImagingError) and error.code == "corrupt_file"
    assert error.problem == degraded.warnings[0].code
    assert "16-bit TIFF" in error.message and "master" in error.detail
    assert error.metadata is not None


def test_quality_is_refused() -> None:
    assert RenditionSpec.parse("master:full:tiff16") == MASTER
    with pytest.raises(ValueError, match="lossless"):
        RenditionSpec.parse("m:full:tiff16:90")
    with pytest.raises(ValueError, match="lossless"):
        RenditionSpec("m", None, "jpeg", 90).with_format("tiff16")


# Files LibRaw's own pipeline develops (no camera white balance, no colour matrix, a
# LinearRaw DNG LibRaw reads).
LIBRAW_SAMPLES = [
    "raw/canon_eos-d30.crw",
    "raw/kodak_dc50.kdc",
    "raw/canon_eos-6d_lossy-reduced.dng",
]


@pytest.mark.samples
@pytest.mark.parametrize("name", LIBRAW_SAMPLES)
def test_master_through_libraw(name: str) -> None:
    result = process_raw(sample(name), (MASTER, FULL_JPEG, SMALL_MASTER), FORCE)
    master, jpeg, small = result.renditions
    image, page = _tiff(master.data)
    assert image.dtype == np.uint16 and (master.width, master.height) == (jpeg.width, jpeg.height)
    assert max(_tiff(small.data)[0].shape[:2]) == 256
    assert len(np.unique(image[..., 1])) > 256
    shown = _to_srgb(image, bytes(page.tags["InterColorProfile"].value))
    # The 8-bit rendition is converted from LibRaw's 16-bit one; LittleCMS's sRGB curve
    # and LibRaw's differ by a level here and there.
    difference = np.abs(shown - _decoded(jpeg.data)).mean()
    assert difference < 3.5, difference
