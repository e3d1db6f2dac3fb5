"""jpegli against libjpeg-turbo for the renditions: bytes and encode time at equal quality.

For each corpus file the engine's 2048 px preview and 320 px thumbnail are made from its
embedded preview (the pixels the engine encodes when the preview serves). libjpeg-turbo
(Pillow, baseline, the engine's default quality) sets the bar: its SSIMULACRA2 score
against the unencoded pixels. jpegli (``pyjpegli``) then gets the lowest quality whose
score reaches that bar (a binary search), and its bytes and encode time are compared.
The rule for adopting it: at least 15 % fewer bytes for at most twice the encode time.

    uv run python -m benchmarks.jpegli              # needs the sample corpus
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyjpegli
from PIL import Image
from ssimulacra2 import compute_ssimulacra2

from benchmarks.common import DOC, environment, load_average, load_note, write_sections
from benchmarks.engine import DEFAULT_FILES
from rawproc.imaging.engine import _fit
from rawproc.imaging.orientation import as_image
from rawproc.imaging.preview import decode_preview_pixels, find_preview
from rawproc.imaging.rawfile import open_raw
from rawproc.imaging.specs import DEFAULT_QUALITY

SIZES = (2048, 320)
MIN_SAVING = 0.15
MAX_TIME_RATIO = 2.0
Array = npt.NDArray[np.uint8]


def turbo(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=False, progressive=False)
    return out.getvalue()


def jpegli(image: Image.Image, quality: int) -> bytes:
    data: bytes = pyjpegli.encode(image.tobytes(), image.width, image.height, quality)
    return data


def score(reference: Path, data: bytes, work: Path) -> float:
    path = work / "distorted.png"
    Image.open(io.BytesIO(data)).convert("RGB").save(path)
    return float(compute_ssimulacra2(str(reference), str(path)))


def best_ms(encode: object, image: Image.Image, quality: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        encode(image, quality)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def matched_quality(image: Image.Image, bar: float, reference: Path, work: Path) -> int:
    """The lowest jpegli quality whose SSIMULACRA2 score reaches ``bar``."""
    low, high = 30, 100
    while low < high:
        middle = (low + high) // 2
        if score(reference, jpegli(image, middle), work) >= bar:
            high = middle
        else:
            low = middle + 1
    return low


def renditions(path: Path) -> list[tuple[int, Image.Image]]:
    with open_raw(path) as raw:
        preview = find_preview(raw, 250_000_000, max(SIZES))
    if preview is None:
        return []
    pixels: Array = decode_preview_pixels(preview, max(SIZES))
    out = []
    current: Array | Image.Image = pixels
    for size in SIZES:
        current = _fit(current, size)
        out.append((size, as_image(current)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    started = load_average()
    quality = DEFAULT_QUALITY["jpeg"]
    rows: list[str] = []
    totals: dict[int, list[float]] = {size: [0.0, 0.0, 0.0, 0.0] for size in SIZES}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in DEFAULT_FILES:
            for size, image in renditions(args.samples / name):
                reference = work / "reference.png"
                image.save(reference)
                base = turbo(image, quality)
                bar = score(reference, base, work)
                q = matched_quality(image, bar, reference, work)
                ours = jpegli(image, q)
                t_base = best_ms(turbo, image, quality, args.repeats)
                t_ours = best_ms(jpegli, image, q, args.repeats)
                saving = 1 - len(ours) / len(base)
                for i, value in enumerate((len(base), len(ours), t_base, t_ours)):
                    totals[size][i] += value
                rows.append(
                    f"| {Path(name).name} | {size} | {quality} | {len(base) / 1000:.1f} kB"
                    f" | {bar:.1f} | {t_base:.1f} | {q} | {len(ours) / 1000:.1f} kB"
                    f" | {score(reference, ours, work):.1f} | {t_ours:.1f} | {saving:.0%}"
                    f" | {t_ours / t_base:.1f}x |"
                )
    verdicts = []
    for label, sums in [
        *((f"{size} px", totals[size]) for size in SIZES),
        ("per photo", [sum(t[i] for t in totals.values()) for i in range(4)]),
    ]:
        saving, ratio = 1 - sums[1] / sums[0], sums[3] / sums[2]
        adopt = saving >= MIN_SAVING and ratio <= MAX_TIME_RATIO
        verdicts.append(
            f"- {label}: {saving:.0%} fewer bytes in all for {ratio:.1f}x the encode time:"
            f" {'meets' if adopt else 'misses'} the rule"
        )
    verdict = (
        f"The rule: at least {MIN_SAVING:.0%} fewer bytes for at most"
        f" {MAX_TIME_RATIO:.0f}x the encode time, on the bytes stored and sent.\n\n"
        + "\n".join(verdicts)
    )
    text = "\n".join(
        [
            "## JPEG encoders: jpegli against libjpeg-turbo",
            "",
            "Written by `benchmarks/jpegli.py`: the engine's renditions made from each file's"
            " embedded preview, encoded by libjpeg-turbo (Pillow, baseline) at the default"
            " quality and by jpegli at the lowest quality whose SSIMULACRA2 score (higher is"
            f" better) reaches libjpeg-turbo's. Encode time is the best of {args.repeats}, one"
            " process, no ICC or EXIF segments (the same few kB for both).",
            environment(f", pyjpegli {pyjpegli.__version__}"),
            load_note(started),
            "",
            "| file | long edge | turbo q | turbo bytes | turbo SSIMULACRA2 | turbo ms"
            " | jpegli q | jpegli bytes | jpegli SSIMULACRA2 | jpegli ms | bytes saved"
            " | time |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            verdict,
        ]
    )
    print(text)
    if not args.no_write:
        write_sections(DOC, {"jpegli": text})


if __name__ == "__main__":
    main()
