"""Gamut mapping of the sensor output stage: hue kept, and what it costs.

Colours no display shows (monochromatic stage lights and lasers, given as CIE XYZ by
``colour-science``'s colour matching functions) are put through the engine's output
stage (``rawproc.imaging.develop.camera_to_output``) and through a per-channel clip
(what LibRaw does). The hue angle of each 8-bit result is compared with the original
colour's, in CIELAB (D65) and in Oklab. Each light is tried at two brightnesses: its
largest linear sRGB channel at 0.8 of white (only its saturation is out of range) and
at 1.5 of white (its brightness too); colours inside sRGB's primaries at 1.3 of white.

The cost is the output stage's time on a 24 MP picture (6000 x 4000, in 64-row bands as
the developer runs it) of a natural-looking scene with 2 % of its pixels outside sRGB and
1 % above white, against the same stage with a plain clip.

    uv run python -m benchmarks.gamut
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import numpy.typing as npt

from rawproc.imaging.develop import _tone_curve, camera_to_output, fit_to_gamut

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # colour-science warns that SciPy is missing
    import colour

F64 = npt.NDArray[np.float64]

WHITE = 60000
IDENTITY = np.eye(3, dtype=np.float32)

# name -> (wavelength in nm, weight) of monochromatic components
LIGHTS: dict[str, tuple[tuple[float, float], ...]] = {
    "violet stage light (430 nm + 15 % 630 nm)": ((430, 1.0), (630, 0.15)),
    "blue LED (450 nm)": ((450, 1.0),),
    "violet laser (405 nm)": ((405, 1.0),),
    "cyan (490 nm)": ((490, 1.0),),
    "laser green (532 nm)": ((532, 1.0),),
    "sodium orange (590 nm)": ((590, 1.0),),
    "deep red LED (650 nm)": ((650, 1.0),),
}
# Colours inside sRGB's primaries, as linear sRGB: only their brightness can be too much.
INSIDE: dict[str, tuple[float, float, float]] = {
    "warm sunlit orange": (1.0, 0.45, 0.08),
    "sky blue": (0.45, 0.65, 1.0),
    "skin": (1.0, 0.62, 0.45),
}


def light_xyz(components: tuple[tuple[float, float], ...]) -> F64:
    xyz = sum(weight * colour.wavelength_to_XYZ(nm) for nm, weight in components)
    return np.asarray(xyz, dtype=np.float64)


def linear_srgb(xyz: F64) -> F64:
    srgb = colour.RGB_COLOURSPACES["sRGB"]
    return np.asarray(colour.XYZ_to_RGB(xyz, srgb, apply_cctf_encoding=False), np.float64)


def xyz_of_8bit(rgb8: npt.NDArray[np.uint8]) -> F64:
    srgb = colour.RGB_COLOURSPACES["sRGB"]
    decoded = np.asarray(rgb8, np.float64) / 255.0
    return np.asarray(colour.RGB_to_XYZ(decoded, srgb, apply_cctf_decoding=True), np.float64)


def hue_lab(xyz: F64) -> float:
    white = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]
    lab = np.asarray(colour.XYZ_to_Lab(xyz, white), np.float64)
    return float(np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360)


def hue_oklab(xyz: F64) -> float:
    lab = colour.XYZ_to_Oklab(xyz)
    return float(np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360)


def hue_error(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


def clipped_output(srgb16: F64) -> npt.NDArray[np.uint8]:
    """LibRaw's way: each channel clipped to [0, white] on its own, then the curve."""
    clipped = np.clip(srgb16, 0, 65535).astype(np.uint16)
    return np.take(_tone_curve(WHITE), clipped)


def hue_table() -> list[str]:
    rows = [
        "| colour | brightness | CIELAB hue error, clipped | mapped | Oklab, clipped | mapped |",
        "|---|---|---|---|---|---|",
    ]
    worst = {"clipped": 0.0, "mapped": 0.0}
    colours = {name: linear_srgb(light_xyz(c)) for name, c in LIGHTS.items()}
    colours.update({name: np.asarray(rgb, np.float64) for name, rgb in INSIDE.items()})
    srgb_space = colour.RGB_COLOURSPACES["sRGB"]
    for name, linear in colours.items():
        xyz = np.asarray(colour.RGB_to_XYZ(linear, srgb_space), np.float64)
        for level in (0.8, 1.5) if name in LIGHTS else (1.3,):
            srgb16 = (linear / linear.max() * level * WHITE).reshape(1, 1, 3)
            original = xyz * (level * WHITE / linear.max())
            mapped = camera_to_output(srgb16.astype(np.float32), IDENTITY, WHITE)
            clipped = clipped_output(srgb16)
            errors = []
            for space in (hue_lab, hue_oklab):
                for label, result in (("clipped", clipped), ("mapped", mapped)):
                    error = hue_error(space(xyz_of_8bit(result[0, 0])), space(original))
                    worst[label] = max(worst[label], error) if space is hue_lab else worst[label]
                    errors.append(f"{error:.1f}°")
            rows.append(f"| {name} | {level:.1f} x white | " + " | ".join(errors) + " |")
    rows.append("")
    rows.append(
        f"Worst CIELAB hue error: {worst['clipped']:.1f}° clipped, {worst['mapped']:.1f}° mapped."
    )
    return rows


def scene_band(rng: np.random.Generator, rows: int, width: int) -> npt.NDArray[np.float32]:
    """Linear sRGB, 16-bit scale: mid-tones, 2 % beyond sRGB's primaries, 1 % above white."""
    band = rng.uniform(0.02, 0.9, (rows, width, 3)).astype(np.float32) * WHITE
    count = rows * width
    picks = rng.choice(count, count * 3 // 100, replace=False)
    flat = band.reshape(-1, 3)
    flat[picks[: count // 50], 1] = -0.2 * WHITE  # a negative channel: outside the triangle
    flat[picks[count // 50 :]] *= 1.6  # brighter than white
    return band


def cost_ms(width: int = 6000, height: int = 4000, band_rows: int = 64) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    bands = [scene_band(rng, band_rows, width) for _ in range(4)]
    count = height // band_rows
    timings: dict[str, list[float]] = {"mapped": [], "clipped": []}
    for _ in range(3):
        start = time.process_time()
        for i in range(count):
            fit_to_gamut(bands[i % 4].copy(), float(WHITE))
        timings["mapped"].append(time.process_time() - start)
        start = time.process_time()
        for i in range(count):
            bands[i % 4].copy()  # the copy both loops pay
        timings["clipped"].append(time.process_time() - start)
    copy = min(timings["clipped"]) * 1000
    mapped = min(timings["mapped"]) * 1000 - copy
    start = time.process_time()
    for i in range(count):
        camera_to_output(bands[i % 4], IDENTITY, WHITE)
    stage = (time.process_time() - start) * 1000
    return mapped, stage


def main() -> None:
    print("\n".join(hue_table()))
    mapped, stage = cost_ms()
    print()
    print(
        f"fit_to_gamut: {mapped:.0f} ms per 24 MP (2 % outside sRGB, 1 % above white); "
        f"whole output stage (matrix, gamut, curve): {stage:.0f} ms per 24 MP"
    )


if __name__ == "__main__":
    main()
