"""Encoding renditions: JPEG, WebP or AVIF, always tagged as sRGB; and the 16-bit TIFF
(``tiff16``), tagged as ProPhoto RGB."""

from __future__ import annotations

import io
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageCms

from .specs import RenditionSpec
from .wide import prophoto_icc

# Deflate (Adobe, TIFF compression 8) with horizontal differencing: lossless and read by
# every TIFF reader (zstd is four times as fast at the same size, but Photoshop and
# Lightroom do not open it). The sensor's noise fills the low bits of 16-bit samples, so
# higher levels gain under 1 % of the size for 1.5x the time: level 1.
_TIFF_COMPRESSION = ("zlib", 1)
# Rows per strip (a strip is compressed on its own and read on its own).
_TIFF_ROWS_PER_STRIP = 64

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


def encode_tiff16(image: npt.NDArray[np.uint16]) -> bytes:
    """A 16-bit RGB TIFF of ``image`` (H x W x 3, ProPhoto RGB as ``wide`` encodes it).

    The ICC profile is in tag 34675 (InterColorProfile); the pixels are already turned as
    shown, so the file has no Orientation tag (readers take 1, top-left). No EXIF is
    written: the metadata record carries the shot's details.
    """
    # Imported here: tifffile adds about 37 MB to a process and 0.1 s to its start, and
    # only a tiff16 rendition needs it.
    import tifffile

    out = io.BytesIO()
    algorithm, level = _TIFF_COMPRESSION
    tifffile.imwrite(
        out,
        image,
        photometric="rgb",
        planarconfig="contig",
        compression=algorithm,
        compressionargs={"level": level},
        predictor=True,
        rowsperstrip=_TIFF_ROWS_PER_STRIP,
        iccprofile=prophoto_icc(),
        metadata=None,
        software="raw-processor",
        maxworkers=1,  # workers run in parallel processes: threads here only contend
    )
    return out.getvalue()
