"""Resamplers for each downscale ratio the engine meets, on a real camera preview.

The source is the 6000x4000 JPEG embedded in the corpus' 24 MP NEF, decoded at the DCT
scale the engine uses (or in full, for the sensor-like ratios). Each resampler is timed on
one core (best of the repeats, in this process: no memory is reported) and compared with
a Lanczos resize of the same source done in floating point by Pillow without a box
reduction first (the slow, high-quality reference): PSNR in dB over the 8-bit RGB result.

    uv run python -m benchmarks.resize              # needs the sample corpus
    uv run --with pyvips --with pyvips-binary python -m benchmarks.resize   # adds libvips
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import simplejpeg
from PIL import Image

from benchmarks.common import DOC, environment, load_average, load_note, write_sections

NEF = "synthetic/nef_24mp_nikon-d7100_uncompressed.nef"
Array = npt.NDArray[np.uint8]
# (label, source long edge decoded, target long edge): the ratios of the engine's chains.
CASES = (
    ("preview from the 3/8 DCT decode", 2250, 2048),
    ("preview from a half-size sensor render", 3000, 2048),
    ("preview from a full decode", 6000, 2048),
    ("thumbnail from the 2048 px preview", 2048, 320),
    ("thumbnail from the 1/8 DCT decode", 750, 320),
)


def _pil(filter_: Image.Resampling, gap: float | None) -> Callable[[Array, tuple[int, int]], Array]:
    def run(a: Array, size: tuple[int, int]) -> Array:
        return np.asarray(Image.fromarray(a).resize(size, filter_, reducing_gap=gap))

    return run


def _cv(flag: int) -> Callable[[Array, tuple[int, int]], Array]:
    def run(a: Array, size: tuple[int, int]) -> Array:
        return np.asarray(cv2.resize(a, size, interpolation=flag))

    return run


def _vips() -> Callable[[Array, tuple[int, int]], Array] | None:
    try:
        import pyvips  # type: ignore[import-not-found]  # only with --with pyvips
    except (ImportError, OSError):
        return None

    def run(a: Array, size: tuple[int, int]) -> Array:
        image = pyvips.Image.new_from_memory(a.tobytes(), a.shape[1], a.shape[0], 3, "uchar")
        out = image.resize(size[0] / a.shape[1], vscale=size[1] / a.shape[0])
        return np.ndarray(
            buffer=out.write_to_memory(), dtype=np.uint8, shape=(out.height, out.width, 3)
        )

    return run


def resamplers() -> dict[str, Callable[[Array, tuple[int, int]], Array]]:
    found = {
        "Pillow bicubic, box reduce to 2x first": _pil(Image.Resampling.BICUBIC, 2.0),
        "Pillow bicubic": _pil(Image.Resampling.BICUBIC, None),
        "Pillow bilinear": _pil(Image.Resampling.BILINEAR, None),
        "OpenCV INTER_AREA": _cv(cv2.INTER_AREA),
        "OpenCV INTER_CUBIC": _cv(cv2.INTER_CUBIC),
        "OpenCV INTER_LINEAR": _cv(cv2.INTER_LINEAR),
    }
    vips = _vips()
    if vips is not None:
        found["libvips resize (lanczos3)"] = vips
    return found


def psnr(a: Array, b: Array) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def _source(jpeg: bytes, long_edge: int) -> Array:
    if long_edge in (750, 2250, 6000):  # a DCT scale of the 6000 px preview
        return np.asarray(simplejpeg.decode_jpeg(jpeg, min_width=long_edge))
    full = np.asarray(simplejpeg.decode_jpeg(jpeg))
    height = round(full.shape[0] * long_edge / full.shape[1])
    return np.asarray(Image.fromarray(full).resize((long_edge, height), Image.Resampling.LANCZOS))


def best_ms(work: Callable[[], object], repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=Path(os.environ.get("SAMPLES", "")))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print, do not update the doc")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    started = load_average()
    import rawpy

    with rawpy.imread(str(args.samples / NEF)) as raw:
        jpeg = bytes(raw.extract_thumb().data)
    rows = []
    runners = resamplers()
    for label, source_edge, target in CASES:
        source = _source(jpeg, source_edge)
        size = (target, round(source.shape[0] * target / source.shape[1]))
        reference = np.asarray(
            Image.fromarray(source).resize(size, Image.Resampling.LANCZOS, reducing_gap=None)
        )
        for name, run in runners.items():
            ms = best_ms(lambda: run(source, size), args.repeats)  # noqa: B023
            quality = psnr(run(source, size), reference)
            rows.append(
                f"| {label} | {source.shape[1]} -> {target} ({source.shape[1] / target:.2f}x)"
                f" | {name} | {ms:.1f} | {quality:.1f} |"
            )
    text = "\n".join(
        [
            "## Resampling per ratio",
            "",
            "Written by `benchmarks/resize.py`. The source is the corpus NEF's 6000x4000"
            " embedded JPEG, decoded at the ratio's scale; one core; time is the best of"
            f" {args.repeats}; PSNR against Pillow's Lanczos without a box reduction first"
            " (higher is closer; above 40 dB no difference is visible).",
            environment(),
            load_note(started),
            "",
            "| rendition | ratio | resampler | ms | PSNR dB vs Lanczos |",
            "| --- | --- | --- | ---: | ---: |",
            *rows,
        ]
    )
    print(text)
    if not args.no_write:
        write_sections(DOC, {"resize": text})


if __name__ == "__main__":
    main()
