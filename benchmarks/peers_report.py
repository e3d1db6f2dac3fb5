"""The report of ``benchmarks.peers``: tables, the growth plot and the ``peers`` section.

``benchmarks.peers`` measures and saves its figures; this module only reads a ``Run`` and
writes text and a picture, so ``--report-only`` can rebuild them from the saved figures.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import DOC, NEWCOMER_QUALITY, Summary
from benchmarks.peers import (
    CORES,
    FORMATS,
    GROWTH_MP,
    NA,
    PIPELINES,
    PLOT,
    Pipeline,
    Run,
)

# --- tables --------------------------------------------------------------------------


def _cell(summary: Summary | None) -> str:
    if summary is None:
        return NA
    if not summary.ok:
        return "fails (below)"
    return f"{summary.ms / 1000:.2f} s, {summary.peak_mb:.0f} MB"


def cost_table(run: Run, task: str, fmt: str = "jpeg") -> str:
    pipelines = [p for p in run.pipelines if p.task == task and p.fmt == fmt]
    header = "| file | MP | " + " | ".join(p.label for p in pipelines) + " |"
    rows = [header, "| --- | ---: |" + " ---: |" * len(pipelines)]
    for path in run.files:
        cells = [_cell(run.get(path, p.key)) for p in pipelines]
        rows.append(
            f"| {path.name} | {run.megapixels[path.name]:.1f} | " + " | ".join(cells) + " |"
        )
    return "\n".join(rows)


def failures(run: Run) -> str:
    """Each pipeline that failed on a file, with the reason the peer gave."""
    by_error: dict[tuple[str, str], list[str]] = {}
    for path in run.files:
        for pipeline in run.pipelines:
            summary = run.get(path, pipeline.key)
            if summary is not None and summary.error is not None:
                label = f"{pipeline.label} ({pipeline.task}, {pipeline.fmt})"
                by_error.setdefault((label, summary.error), []).append(path.name)
    if not by_error:
        return ""
    lines = [
        f"- {label} on {', '.join(names)}: {error}" for (label, error), names in by_error.items()
    ]
    return "Failures (the peer's own words):\n\n" + "\n".join(lines) + "\n"


def format_table(run: Run) -> str:
    columns = [
        (tool, task, fmt)
        for tool, task in (("engine", "preview"), ("engine-sensor", "preview"), ("engine", "full"))
        for fmt in FORMATS
    ]
    names = {
        "engine:preview": "default",
        "engine-sensor:preview": "sensor",
        "engine:full": "+ full",
    }
    header = "| file | " + " | ".join(f"{names[f'{t}:{k}']} {f.upper()}" for t, k, f in columns)
    rows = [header + " |", "| --- |" + " ---: |" * len(columns)]
    for mp, path in run.growth.items():
        cells = [_cell(run.get(path, f"{t}:{k}:{f}")) for t, k, f in columns]
        rows.append(f"| {mp} MP | " + " | ".join(cells) + " |")
    return "\n".join(rows)


# The engine's cases: pipeline key, task, description.
ENGINE_CASES = (
    ("engine:preview:jpeg", "preview", "default (embedded preview allowed)"),
    ("engine-sensor:preview:jpeg", "preview", "rendered from sensor data"),
    ("engine:full:jpeg", "full", "with the full-resolution rendition"),
)
MARGIN = 1.10  # a peer is "ahead" only when better by more than this: less is noise


def comparisons(run: Run, path: Path) -> Iterator[tuple[str, Pipeline, Summary, Summary | None]]:
    """(engine case, peer, engine summary, peer summary) for like-for-like pairs on a file.

    Sensor rendering is compared with peers that render from sensor data only; the
    engine's default, which may use the embedded preview, with every peer.
    """
    for engine_key, task, case in ENGINE_CASES:
        ours = run.get(path, engine_key)
        if ours is None or not ours.ok:
            continue
        sensor_only = PIPELINES[engine_key].source == "sensor"
        for peer in run.pipelines:
            if peer.task != task or peer.peer == "engine" or peer.fmt != "jpeg":
                continue
            if sensor_only and peer.source != "sensor":
                continue
            yield case, peer, ours, run.get(path, peer.key)


def ratio_rows(run: Run, path: Path) -> list[str]:
    """Engine (default, sensor, with full size) against each peer on one file."""
    rows = []
    for case, peer, ours, theirs in comparisons(run, path):
        if theirs is None or not theirs.ok:
            why = "fails (below)" if theirs is not None else "not run"
            rows.append(f"| {path.name} | {case} | {peer.label} | - | - | {why} |")
            continue
        rows.append(
            f"| {path.name} | {case} | {peer.label} | {theirs.ms / ours.ms:.1f}x"
            f" | {ours.peak_mb / theirs.peak_mb:.2f} | |"
        )
    return rows


def ratio_table(run: Run) -> str:
    files = [p for p in run.files if 20 <= run.megapixels[p.name] <= 28]
    rows = [
        "| file | engine case | peer | engine speed-up (peer time / engine time)"
        " | engine peak RSS / peer's | note |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    for path in files:
        rows += ratio_rows(run, path)
    return "\n".join(rows)


def stage_table(run: Run) -> str:
    """Where the engine's time goes (median ms per stage), at each growth size."""
    keys = ("engine:preview:jpeg", "engine-sensor:preview:jpeg", "engine:full:jpeg")
    cases = {keys[0]: "default", keys[1]: "sensor", keys[2]: "+ full"}
    stages: list[str] = []
    for path in run.growth.values():
        for key in keys:
            summary = run.get(path, key)
            if summary is not None:
                stages += [s for s in summary.stages if s not in stages]
    rows = ["| file | case | total ms | " + " | ".join(stages) + " |"]
    rows.append("| --- | --- | ---: |" + " ---: |" * len(stages))
    for mp, path in run.growth.items():
        for key in keys:
            summary = run.get(path, key)
            if summary is None or not summary.ok:
                continue
            cells = [f"{summary.stages[s]:.0f}" if s in summary.stages else NA for s in stages]
            rows.append(
                f"| {mp} MP | {cases[key]} | {summary.ms:.0f} | " + " | ".join(cells) + " |"
            )
    return "\n".join(rows)


@dataclass
class Fit:
    intercept_ms: float
    slope_ms_per_mp: float
    r2: float


def linear_fit(points: Sequence[tuple[float, float]]) -> Fit | None:
    """Least squares ``ms = a + b * MP``; R² near 1 means time grows linearly."""
    if len(points) < 3:
        return None
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    intercept = my - slope * mx
    total = sum((y - my) ** 2 for y in ys)
    residual = sum((y - intercept - slope * x) ** 2 for x, y in points)
    return Fit(intercept, slope, 1 - residual / total if total else 1.0)


def growth_points(run: Run, key: str) -> list[tuple[float, float]]:
    points = []
    for path in run.growth.values():
        summary = run.get(path, key)
        if summary is not None and summary.ok:
            points.append((run.megapixels[path.name], summary.ms))
    return points


def growth_table(run: Run) -> str:
    rows = [
        "| task | pipeline | "
        + " | ".join(f"ms/MP at {mp} MP" for mp in run.growth)
        + " | fit: fixed ms + ms/MP | R² | peak MB at "
        + ", ".join(f"{mp}" for mp in run.growth)
        + " MP |",
        "| --- | --- |" + " ---: |" * (len(run.growth) + 3),
    ]
    for pipeline in (p for p in run.pipelines if p.fmt == "jpeg"):
        points = dict(growth_points(run, pipeline.key))
        per_mp = [
            f"{points[run.megapixels[p.name]] / run.megapixels[p.name]:.0f}"
            if run.megapixels[p.name] in points
            else NA
            for p in run.growth.values()
        ]
        fit = linear_fit(list(points.items()))
        fitted = f"{fit.intercept_ms:.0f} + {fit.slope_ms_per_mp:.0f}/MP" if fit else NA
        r2 = f"{fit.r2:.3f}" if fit else NA
        peaks = ", ".join(_mb(run.get(p, pipeline.key)) for p in run.growth.values())
        rows.append(
            f"| {pipeline.task} | {pipeline.label} | "
            + " | ".join(per_mp)
            + f" | {fitted} | {r2} | {peaks} |"
        )
    return "\n".join(rows)


def _mb(summary: Summary | None) -> str:
    return f"{summary.peak_mb:.0f}" if summary is not None and summary.ok else NA


STYLES = {  # peer -> colour, marker; a peer's second variant is dashed
    "engine": ("C0", "o"),
    "plain": ("C2", "s"),
    "dcraw_emu": ("C3", "^"),
    "darktable": ("C4", "D"),
    "flashraw": ("C1", "v"),
}


def plot(run: Run, out: Path) -> None:
    """Time per file against megapixels, and time per megapixel (flat = linear growth).

    Log scales, because the pipelines differ by two orders of magnitude; on the top row
    the grey dotted lines have slope 1 (time proportional to megapixels), so a pipeline
    that grows linearly runs parallel to them.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import (
        FixedLocator,
        LogLocator,
        NullFormatter,
        NullLocator,
        ScalarFormatter,
    )

    fig, axes = plt.subplots(2, 2, figsize=(12, 9), sharex=True)
    titles = {
        "preview": "metadata + 320 px thumbnail + 2048 px preview",
        "full": "the same + full-resolution rendition",
    }
    legend: dict[str, Any] = {}
    for column, task in enumerate(("preview", "full")):
        top, bottom = axes[0][column], axes[1][column]
        for axis in (top, bottom):
            axis.set_xscale("log")
            axis.set_yscale("log")
        variants: dict[str, int] = {}
        for pipeline in (p for p in run.pipelines if p.task == task and p.fmt == "jpeg"):
            points = growth_points(run, pipeline.key)
            if not points:
                continue
            variant = variants[pipeline.peer] = variants.get(pipeline.peer, -1) + 1
            colour, marker = STYLES[pipeline.peer]
            style = {"color": colour, "marker": marker, "label": pipeline.label}
            style["linestyle"] = ("-", "--", ":")[variant % 3]
            xs = [x for x, _ in points]
            (legend[pipeline.label],) = top.plot(xs, [y / 1000 for _, y in points], **style)
            bottom.plot(xs, [y / x for x, y in points], **style)
        low, high = top.get_ylim()
        guide = 10 ** math.floor(math.log10(low))
        while guide < high:  # slope-1 guides: time proportional to megapixels
            top.plot(
                GROWTH_MP,
                [guide * mp / GROWTH_MP[0] for mp in GROWTH_MP],
                color="grey",
                linestyle=":",
                linewidth=0.8,
            )
            guide *= 10
        top.set_ylim(low, high)
        top.set_title(titles[task])
        top.set_ylabel("seconds per file (one CPU)")
        bottom.set_ylabel("ms per megapixel (flat = linear growth)")
        bottom.set_xlabel("megapixels")
        for axis in (top, bottom):
            axis.xaxis.set_major_locator(FixedLocator(list(GROWTH_MP)))
            axis.xaxis.set_minor_locator(NullLocator())
            axis.xaxis.set_major_formatter(ScalarFormatter())
            axis.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.yaxis.set_major_formatter(ScalarFormatter())
            axis.yaxis.set_minor_formatter(NullFormatter())
            axis.grid(True, which="major", alpha=0.3)
    fig.suptitle(
        "RAW file to web renditions: time per file against sensor size"
        " (JPEG, median, one CPU, log scales)"
    )
    fig.legend(legend.values(), legend.keys(), loc="lower center", ncols=5, fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out}", file=sys.stderr)


def projection_table(run: Run, scaling: dict[str, Any]) -> str:
    """16 cores at the measured 2-core efficiency; memory = peak RSS per process x processes."""
    seconds = {int(k): float(v) for k, v in scaling["seconds"].items()}
    efficiency = seconds[1] / seconds[2] / 2
    rows = [
        "| file | pipeline | s per file, one core | files/s on 16 cores | peak MB per process"
        " | memory for 16 processes |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    keys = ["engine:preview:jpeg", "engine-sensor:preview:jpeg", "engine:full:jpeg"]
    keys += ["plain:preview:jpeg", "plain:full:jpeg"]
    for mp in (24, 45):
        path = run.growth.get(mp)
        if path is None:
            continue
        for key in keys:
            summary = run.get(path, key)
            if summary is None or not summary.ok:
                continue
            rate = CORES * efficiency * 1000 / summary.ms
            name = PIPELINES[key].label + (" + full" if PIPELINES[key].task == "full" else "")
            rows.append(
                f"| {mp} MP | {name} | {summary.ms / 1000:.2f} | {rate:.1f} | {summary.peak_mb:.0f}"
                f" | {CORES * summary.peak_mb / 1024:.1f} GB |"
            )
    return (
        f"`rawproc process` (all cores, not pinned; measured {scaling.get('measured', '')})"
        f" took {seconds[1]:.1f} s with `-j 1` and {seconds[2]:.1f} s with"
        f" `-j 2` on {scaling['files']} files: {seconds[1] / seconds[2]:.2f}x, a parallel"
        f" efficiency of {efficiency:.0%} per core. Projected to {CORES} cores at that"
        f" efficiency (one process per core, one file at a time each):\n\n" + "\n".join(rows)
    )


# Why a peer can be ahead, and what closing the gap would take; printed for each peer
# that beats the engine somewhere in this run.
BEHIND = {
    "flashraw": (
        "flashraw decodes with its own SIMD kernels (written in Rust) and a bilinear"
        " demosaic, and hands out the pixels without copies. The engine's development is"
        " vectorised too (OpenCV filters and numpy, band by band), but its demosaic does"
        " several times a bilinear one's work (Hamilton-Adams, 4-7 dB closer to the true"
        ' picture: see "Demosaic quality"), and LibRaw still unpacks the sensor data'
        " (for a lossless-JPEG DNG, most of the time). What would close the rest is a"
        " faster unpacker for the common formats (flashraw's own, once it is proven on the"
        " formats we must read), not a cheaper demosaic, which would cost the picture."
        " Where **flashraw (embedded)** is far ahead on the real camera files, it serves"
        " their embedded JPEG, which is smaller than 2048 px, as the preview; the engine"
        " does not (an embedded preview must be at least the size asked for) and renders"
        " those from the sensor, so the two are not making the same preview."
    ),
    "dcraw_emu": (
        "dcraw_emu is LibRaw's own pipeline as a C program, without an interpreter: the"
        " engine's Python process holds about 58 MB of interpreter and libraries (OpenCV"
        " among them) before any work, which is most of dcraw_emu's memory lead where it"
        " has one. Where it is also faster, the difference is the engine's resizes (box"
        " reduction, then bicubic) and, for files whose half-size render is smaller than"
        " the preview, the engine's full demosaic (below)."
    ),
    "plain": (
        "the plain pipeline is ahead only where the engine also demosaics the full sensor"
        " for the thumbnail and preview: files with no embedded preview of 2048 px and a"
        " half-size render smaller than 2048 px (the 8 MP EOS 30D: 1752 px). Accepting a"
        " half-size render when it is within about 15% of the preview size (a 1752 px"
        " preview for such cameras, or a small upscale) would cut that case to the"
        " half-size cost."
    ),
    "darktable": (
        "darktable-cli runs a complete, tuned processing pipeline; where it is ahead, it"
        " is by avoiding work the engine does (see the stage table)."
    ),
}


def behind_paragraph(run: Run) -> str:
    """Every (file, case, peer) where the peer is faster or leaner than the engine, and why."""
    rows: list[str] = []
    seen: set[str] = set()
    for path in run.files:
        for case, peer, ours, theirs in comparisons(run, path):
            if theirs is None or not theirs.ok:
                continue
            speed, memory = ours.ms / theirs.ms, ours.peak_mb / theirs.peak_mb
            if speed > MARGIN or memory > MARGIN:
                seen.add(peer.peer)
                rows.append(
                    f"| {path.name} | {case} | {peer.label} | {speed:.1f}x | {memory:.1f}x |"
                )
    if not rows:
        return f"No peer was more than {MARGIN - 1:.0%} faster or leaner than the engine here."
    reasons = "\n".join(f"- **{peer}**: {BEHIND[peer]}" for peer in sorted(seen) if peer in BEHIND)
    return (
        f"Cases where a peer is more than {MARGIN - 1:.0%} faster or leaner (peer's speed and"
        " memory advantage; 1.0x or less means it is not ahead on that count):\n\n"
        "| file | engine case | peer | peer faster by | peer leaner by |\n"
        "| --- | --- | --- | ---: | ---: |\n"
        + "\n".join(rows)
        + "\n\nWhy, and what it would take:\n\n"
        + reasons
    )


def section(run: Run, scaling: dict[str, Any] | None) -> str:
    missing = ", ".join(f"{k} ({v})" for k, v in sorted(run.unavailable.items()))
    relative_plot = os.path.relpath(PLOT, DOC.parent)
    parts = [
        f"""## Engine vs peers at 12, 24 and 45 MP

{run.measured}
{run.load}
{f"Not measured: {missing}." if missing else ""}
Command: `uv run python -m benchmarks.peers` (median of {run.repeats} runs, each in a
fresh process pinned to one CPU with OpenMP limited to one thread; pipelines alternate
within each repeat). Time excludes interpreter start and imports; peak MB is the peak RSS
of the measuring process or of the tool it ran, whichever is larger, interpreter and
libraries included.

Files: synthetic DNGs of 12, 24 and 45 MP (`python -m tests.fixtures.dngmaker OUT --mp N
--preview-size LONG_EDGE`: 16-bit uncompressed CFA data and a full-size embedded JPEG, as
cameras write), plus the corpus' real files and its 24 MP NEF.

Pipelines, each producing metadata, a 320 px thumbnail and a 2048 px preview (and, in the
second table, the full-resolution JPEG too); JPEG quality {NEWCOMER_QUALITY} throughout:

- **engine**: `process_raw()` with default options (the embedded preview serves when it
  is large enough); **engine (sensor)**: `EngineOptions(force_sensor=True)`.
- **plain**: `exifread.process_file(details=True)` + full `rawpy.postprocess(use_camera_wb=True)`
  + Pillow `thumbnail()`.
- **dcraw_emu**: `raw-identify -v` (metadata) + `dcraw_emu -w -T` to a TIFF (`-h`, half size,
  when no full-size output is wanted) + Pillow.
- **darktable-cli**: `darktable-cli IN OUT.jpg --width 2048 --height 2048` (full size for the
  second table) with a warmed configuration and `--library :memory:`; Pillow makes the
  thumbnail. Its metadata is the EXIF it copies into the JPEG.
- **flashraw**: `flashraw.open()` + `metadata` + `decode("rgba8", threads=1)` (half size
  for the preview, bilinear full size for the full table) + Pillow; **flashraw (embedded)**
  decodes the embedded JPEG (`preview_bytes()`) with Pillow's draft mode instead.

### Metadata + thumbnail + preview (JPEG): time and peak RSS per file

{cost_table(run, "preview")}

### With the full-resolution rendition (JPEG)

{cost_table(run, "full")}

{failures(run)}""",
    ]
    if any(p.fmt != "jpeg" for p in run.pipelines):
        parts.append(
            f"""### The engine's output formats (synthetic files)

Default = embedded preview allowed; sensor = `force_sensor=True`; + full = thumbnail,
preview and full-resolution rendition, all in the one format (WebP quality 82, method 3;
AVIF quality 60, speed 8).

{format_table(run)}
"""
        )
    parts.append(
        f"""### Ratios for the 24 MP files

Speed-up above 1 and memory ratio below 1 favour the engine. Targets for a 24 MP file
(against plain): at least 10x when the embedded preview serves, at least 3x from sensor
data, full resolution no slower, peak memory at most 60%.

{ratio_table(run)}

### Growth with megapixels

![Time per file against megapixels]({relative_plot})

Time per megapixel at each size, a least-squares fit `ms = fixed + slope x MP` over the
three sizes, and its R² (1 = exactly linear). Pipelines that decode the embedded preview
do work that hardly depends on the sensor size, so their slope is near 0 and R² says
nothing; what matters for them is that time and memory stay flat.

{growth_table(run)}

### Where the engine's time goes (JPEG, median ms per stage)

From `ProcessResult.timings_ms`. When sensor data is rendered, "metadata" includes
LibRaw's unpack of the raw data (read and decompressed once, then reused by the decode).

{stage_table(run)}
"""
    )
    if scaling is not None:
        parts.append(f"### Projection to {CORES} cores\n\n{projection_table(run, scaling)}\n")
    parts.append(f"### Where the engine is behind a peer\n\n{behind_paragraph(run)}\n")
    return "\n".join(parts)
