"""The DNG kinds the engine reads itself: colour accuracy, and the JPEG XL codec chosen.

For every kind of ``tests.fixtures.dngmaker.DNG_KINDS`` (a 600 x 400 test chart written
backwards through the DNG colour pipeline), the engine's full-size render is compared with
the chart: the grey patch's a*b* chroma in CIELAB (0 is neutral) and the mean error in
8-bit levels. LibRaw's own render of the same file (``postprocess`` with the camera's
white balance and the sRGB curve) is measured beside it, where LibRaw opens the file.

The JPEG XL codec: ``imagecodecs.jpegxl_decode`` and ``pillow-jxl-plugin`` decode the same
lossless 16-bit tiles (256 x 256, a real-looking mosaic); time per megapixel (median of 5)
and whether the samples come back exactly.

    uv run python -m benchmarks.dng_kinds            # prints and updates docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rawpy
from PIL import Image

from benchmarks.common import DOC, environment, write_sections
from rawproc.imaging import BUILTIN, EngineOptions, process_raw
from rawproc.imaging.develop import SRGB_GAMMA
from tests.fixtures.colour_metrics import chroma_of_8bit
from tests.fixtures.dngmaker import CHART_PATCHES, DNG_KINDS, make_chart, make_kind_dng

U8 = npt.NDArray[np.uint8]
TILE = 256


def engine_render(path: Path) -> U8:
    result = process_raw(path, (BUILTIN["full"],), EngineOptions(force_sensor=True))
    return np.asarray(Image.open(io.BytesIO(result.renditions[0].data)).convert("RGB"))


def libraw_render(path: Path) -> U8 | str:
    """LibRaw's render, or what LibRaw said when it could not make one."""
    try:
        with rawpy.imread(str(path)) as raw:
            rgb = raw.postprocess(
                use_camera_wb=True,
                output_color=rawpy.ColorSpace.sRGB,
                gamma=SRGB_GAMMA,
                output_bps=8,
                no_auto_bright=True,
            )
    except (rawpy.LibRawError, ValueError) as exc:
        return f"refused ({type(exc).__name__})"
    return np.asarray(rgb, np.uint8)


def grey_and_error(image: U8) -> tuple[float, float]:
    height, width = image.shape[:2]
    chart = make_chart(width, height).astype(np.float64)
    grey = image[CHART_PATCHES["grey"].slices(height, width, 0.2)].reshape(-1, 3).mean(axis=0)
    if image.shape != chart.shape:
        return chroma_of_8bit(grey), float("nan")
    return chroma_of_8bit(grey), float(np.abs(image.astype(np.float64) - chart).mean())


def kind_rows(folder: Path) -> list[str]:
    rows = []
    for name, options in DNG_KINDS.items():
        made = make_kind_dng(folder / f"{name}.dng", **options)
        chroma, error = grey_and_error(engine_render(made.path))
        theirs = libraw_render(made.path)
        if isinstance(theirs, str):
            libraw = theirs
        else:
            their_chroma, their_error = grey_and_error(theirs)
            libraw = f"chroma {their_chroma:.1f}, mean error {their_error:.1f}"
        rows.append(f"| {name} | {chroma:.2f} | {error:.2f} | {libraw} |")
    return rows


def _median_ms(work: Callable[[], Any]) -> float:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def codec_rows() -> list[str]:
    import imagecodecs
    import pillow_jxl  # noqa: F401  (registers the JPEG XL plugin with Pillow)

    rng = np.random.default_rng(1)
    smooth = np.cumsum(rng.integers(-40, 41, (TILE, TILE)), axis=1) + 20000
    tile = np.clip(smooth + rng.integers(0, 200, (TILE, TILE)), 0, 65535).astype(np.uint16)
    encoded = bytes(imagecodecs.jpegxl_encode(tile, lossless=True))
    megapixels = TILE * TILE / 1e6

    def with_imagecodecs() -> npt.NDArray[np.uint16]:
        return np.asarray(imagecodecs.jpegxl_decode(encoded))

    def with_pillow() -> npt.NDArray[np.uint16]:
        with Image.open(io.BytesIO(encoded)) as image:
            return np.asarray(image)

    rows = []
    for label, decode in (("imagecodecs", with_imagecodecs), ("pillow-jxl-plugin", with_pillow)):
        try:
            out = decode()
            exact = out.shape == tile.shape and bool(np.array_equal(out.astype(np.uint16), tile))
            detail = "yes" if exact else f"no ({out.dtype}, shape {out.shape})"
            speed = f"{_median_ms(decode) / megapixels:.0f}"
        except Exception as exc:  # a codec that cannot read the tile is a result here
            detail, speed = f"fails: {type(exc).__name__}: {exc}", "-"
        rows.append(f"| {label} | {speed} | {detail} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        kinds = kind_rows(Path(folder))
    codecs = codec_rows()
    text = "\n".join(
        [
            "## DNG kinds the engine reads itself",
            "",
            "`uv run python -m benchmarks.dng_kinds`. A 600 x 400 chart per kind; grey chroma",
            "is the a*b* chroma (CIELAB) of the grey patch (0 is neutral, about 2 is visible",
            "beside a neutral grey), mean error in 8-bit levels against the chart.",
            "",
            environment(),
            "",
            "| kind | engine: grey chroma | engine: mean error | LibRaw (rawpy) |",
            "|---|---|---|---|",
            *kinds,
            "",
            "JPEG XL decoding of one lossless 16-bit 256 x 256 tile (median of 5):",
            "",
            "| codec | ms per megapixel | samples exact |",
            "|---|---|---|",
            *codecs,
        ]
    )
    print(text)
    if not args.no_write:
        write_sections(DOC, {"dng_kinds": text})


if __name__ == "__main__":
    main()
