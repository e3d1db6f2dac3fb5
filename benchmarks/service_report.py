"""The report of ``benchmarks.service``: tables, the memory plot and the ``service`` section.

``benchmarks.service`` measures and saves its results; this module only turns saved results
into text and a picture, so ``--report-only`` rebuilds them without running anything.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.common import (
    write_sections,
)
from benchmarks.service import (
    ANSWER_TARGET_MS,
    BURST_CLIENTS,
    FULL,
    LATENCY_FILE,
    MEMORY_LARGE_EVERY,
    PLOT,
    PROBE_INTERVAL,
    SATURATION_BACKLOG,
    WORKER_NICENESS,
    Done,
    p50_p95,
)

# --- tables --------------------------------------------------------------------------


def _verdict(p95_ms: float) -> str:
    return "met" if p95_ms < ANSWER_TARGET_MS else "not met"


def _ms(value: float) -> str:
    return "no sample" if math.isnan(value) else f"{value:,.0f} ms"


def stage_table(done: Sequence[Done]) -> str:
    """Median and p95 of every stage, engine and outside-engine time, per file."""
    names = sorted({k for d in done for k in d.stages})
    rows = ["| stage | p50 | p95 |", "|---|---:|---:|"]
    for name in names:
        stat = p50_p95(d.stages.get(name, 0.0) for d in done)
        rows.append(f"| `{name}` | {_ms(stat['p50'])} | {_ms(stat['p95'])} |")
    for label, values in (
        ("engine (sum of its stages)", [d.engine_ms for d in done]),
        ("**outside the engine** (`total` - engine)", [d.outside_ms for d in done]),
    ):
        stat = p50_p95(values)
        rows.append(f"| {label} | {_ms(stat['p50'])} | {_ms(stat['p95'])} |")
    return "\n".join(rows)


def baseline_table(this: Sequence[Done], before: Sequence[Done], label: str) -> str:
    """The empty-queue runs of this code against the baseline's, run alternately."""
    rows = [
        f"| p50 (p95) | before: {label} | after: this checkout | change |",
        "|---|---:|---:|---:|",
    ]

    def stage(name: str) -> Callable[[Done], float]:
        return lambda d: d.stages.get(name, 0.0)

    measures: tuple[tuple[str, Callable[[Done], float]], ...] = (
        ("upload answer (sending 25 MB, storing it)", lambda d: d.answer_ms),
        ("broker delivery (`queue_wait`)", stage("queue_wait")),
        ("`download` of the original (with its hash)", stage("download")),
        ("engine (sum of its stages)", lambda d: d.engine_ms),
        ("`upload` of the renditions", stage("upload")),
        ("outside the engine (`total` - engine)", lambda d: d.outside_ms),
        ("worker `total` (claim to commit)", stage("total")),
        ("**upload-to-ready**", lambda d: d.upload_to_ready_s * 1000),
    )
    for name, measure in measures:
        old, new = p50_p95(map(measure, before)), p50_p95(map(measure, this))
        rows.append(
            f"| {name} | {_ms(old['p50'])} ({_ms(old['p95'])}) | {_ms(new['p50'])}"
            f" ({_ms(new['p95'])}) | {new['p50'] - old['p50']:+,.0f} ms |"
        )
    return "\n".join(rows)


def per_file_table(done: Sequence[Done]) -> str:
    """Medians per file: the engine against what the worker spends around it."""
    rows = [
        "| file | size | MP | preview from | engine | download | renditions upload"
        " | database, temp file | outside engine | share outside |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in sorted({d.name for d in done}):
        mine = [d for d in done if d.name == name]
        engine = statistics.median(d.engine_ms for d in mine)
        outside = statistics.median(d.outside_ms for d in mine)
        download = statistics.median(d.stages.get("download", 0.0) for d in mine)
        upload = statistics.median(d.stages.get("upload", 0.0) for d in mine)
        rest = statistics.median(
            d.outside_ms - d.stages.get("download", 0.0) - d.stages.get("upload", 0.0) for d in mine
        )
        rows.append(
            f"| `{name}` | {mine[0].size / 1e6:.0f} MB | {mine[0].megapixels:.1f}"
            f" | {mine[0].source} | {_ms(engine)} | {_ms(download)} | {_ms(upload)}"
            f" | {_ms(rest)} | {_ms(outside)} | {outside / (engine + outside):.0%} |"
        )
    return "\n".join(rows)


def sizing_table(rows: Sequence[dict[str, Any]]) -> str:
    """Peak memory of one pool process per file, with the default and a full rendition."""
    lines = [
        "| file | MP | renditions | made from | pool process idle | peak | above idle"
        " | per pixel |",
        "|---|---:|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        above = row["peak_pool_mb"] - row["idle_pool_mb"]
        per_pixel = above * 1024 * 1024 / (row["megapixels"] * 1e6) if row["megapixels"] else 0
        lines.append(
            f"| `{row['name']}` | {row['megapixels']:.1f} | {row['mode']} | {row['source']}"
            f" | {row['idle_pool_mb']:.0f} MB | {row['peak_pool_mb']:.0f} MB"
            f" | {above:.0f} MB | {per_pixel:.1f} B |"
        )
    return "\n".join(lines)


def plot_memory(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    files = [s["files"] for s in samples]
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    ax.plot(files, [s["main_mb"] + s["pool_mb"] for s in samples], label="worker total")
    ax.plot(files, [s["pool_mb"] for s in samples], label="pool process (runs the engine)")
    ax.plot(files, [s["main_mb"] for s in samples], label="worker main process")
    for index, at in enumerate(range(MEMORY_LARGE_EVERY, result["files"] + 1, MEMORY_LARGE_EVERY)):
        ax.axvline(
            at, color="grey", alpha=0.2, label="a corpus file (8-24 MP)" if not index else None
        )
    ax.set_xlabel("files processed")
    ax.set_ylabel("resident memory (MB)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"One Celery worker (concurrency 1) across {result['files']} files")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower center", ncol=2, fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def memory_quarters(result: dict[str, Any]) -> list[dict[str, float]]:
    """Median RSS over each quarter of the run (by files processed): a leak climbs from
    quarter to quarter, memory the allocator keeps for reuse levels off."""
    total = result["files"]
    quarters = []
    for q in range(4):
        low, high = q * total / 4, (q + 1) * total / 4
        inside = [s for s in result["samples"] if low <= s["files"] < high] or result["samples"]
        quarters.append(
            {
                "pool_mb": statistics.median(s["pool_mb"] for s in inside),
                "total_mb": statistics.median(s["pool_mb"] + s["main_mb"] for s in inside),
                "max_mb": max(s["pool_mb"] + s["main_mb"] for s in inside),
            }
        )
    return quarters


def report(results: dict[str, Any]) -> str:
    done = {k: [Done(**d) for d in results[k]["done"]] for k in ("t1", "t2", "burst")}
    empty = [Done(**d) for d in results["empty"]]
    t1, t2, bst, mem = results["t1"], results["t2"], results["burst"], results["memory"]
    answer = p50_p95(d.answer_ms for d in empty)
    ready = p50_p95(d.upload_to_ready_s for d in empty)
    corpus_done = done["t1"] + done["t2"]
    outside = p50_p95(d.outside_ms for d in corpus_done)
    queue_wait = p50_p95(d.stages.get("queue_wait", 0.0) for d in empty)
    latency_mb = empty[0].megapixels if empty else 0.0
    probe, niced = bst["probe_answer_ms"], bst["probe_niced_answer_ms"]
    quarters = memory_quarters(mem)
    idle = results["idle_probe_answer_ms"]
    pin = results.get("pinned_probe_answer_ms")
    sizing_main = max(row["main_mb"] for row in results["sizing"])
    lines = [
        "## Service: throughput, latency, overhead and worker memory",
        "",
        results["environment"],
        results["load"],
        "",
        "`uv run python -m benchmarks.service` (`benchmarks/service.py`) starts the real stack"
        " on this machine: a PostgreSQL database of its own, Redis with queues of its own,"
        " SeaweedFS (`weed mini`) as S3, gunicorn (2 processes x 4 threads) and Celery worker"
        ' processes (prefork pool, **concurrency 1 each**; "2 workers" means two such'
        " processes). Everything goes through the HTTP API with multipart uploads; every"
        " upload has unique bytes, so deduplication never answers instead of a worker. The"
        " client, API, database, storage and workers all share the same 2 noisy cores, so"
        " these are floor figures for a real deployment, where they run on separate"
        " machines.",
        "",
        f"Files: {results['inputs']}. 24 MP latency file: `{Path(LATENCY_FILE).name}`"
        f" ({latency_mb:.1f} MP).",
        "",
        "### Throughput",
        "",
        "The files are queued while no worker runs; then the workers start. Files per minute"
        " = files / (last result - first start of processing).",
        "",
        "| workers | files | files/min | speed-up |",
        "|---|---:|---:|---:|",
        f"| 1 | {t1['files']} | {t1['files_per_min']:.1f} | 1.00x |",
        f"| 2 | {t2['files']} | {t2['files_per_min']:.1f} |"
        f" {t2['files_per_min'] / t1['files_per_min']:.2f}x |",
        f"| 2, burst of the 24 MP file | {bst['files']} | {bst['files_per_min']:.1f} | |",
        "",
        "### Upload-to-ready and upload answer time",
        "",
        "Upload-to-ready runs from the moment the client starts sending the file until the"
        " asset's `processed_at`; the upload answer is the `202` round trip, which includes"
        " sending the body over loopback.",
        "",
        "| situation | upload answer p50 | p95 | upload-to-ready p50 | p95 |",
        "|---|---:|---:|---:|---:|",
        f"| 24 MP file, empty queue, 1 worker ({answer['n']} runs) | {_ms(answer['p50'])}"
        f" | {_ms(answer['p95'])} | {ready['p50']:.2f} s | {ready['p95']:.2f} s |",
        f"| burst of {bst['files']} x 24 MP from {BURST_CLIENTS} clients, 2 workers"
        f" | {_ms(bst['answer_ms']['p50'])} | {_ms(bst['answer_ms']['p95'])}"
        f" | {bst['upload_to_ready_s']['p50']:.1f} s | {bst['upload_to_ready_s']['p95']:.1f} s |",
        "",
        "The API's own answer time, without a large body in transit: small uploads"
        f" (a 600x400 DNG, {probe['n']} in each series, one every {PROBE_INTERVAL} s from one"
        ' client). "Saturated" series run after the burst above while the workers are kept'
        " busy: before each small upload, whenever fewer than"
        f" {SATURATION_BACKLOG} messages wait in the decode queue, files of the burst are sent"
        " back for processing, so every probe meets two decoding workers; in the second"
        f" series the workers were reniced to `nice {WORKER_NICENESS}` first.",
        "",
        "| small upload | answer p50 | p95 |",
        "|---|---:|---:|",
        f"| workers idle | {_ms(idle['p50'])} | {_ms(idle['p95'])} |",
        f"| workers saturated, same CPU priority as the API | {_ms(probe['p50'])}"
        f" | **{_ms(probe['p95'])}** |",
        f"| workers saturated, workers at nice {WORKER_NICENESS} | {_ms(niced['p50'])}"
        f" | **{_ms(niced['p95'])}** |",
        *(
            [
                "| workers saturated, both pinned to CPU 0 (the API has the other cores)"
                f" | {_ms(pin['p50'])} | **{_ms(pin['p95'])}** |"
            ]
            if pin
            else []
        ),
        "",
        f"Target: upload answer p95 under {ANSWER_TARGET_MS:.0f} ms while the workers are"
        f" saturated: **{_verdict(probe['p95'])}** at the same priority"
        f" ({_ms(probe['p95'])}), **{_verdict(niced['p95'])}** with niced workers"
        f" ({_ms(niced['p95'])}); with idle workers the same uploads took"
        f" {_ms(idle['p95'])} at p95, so saturated workers add"
        f" {probe['p95'] - idle['p95']:+.0f} ms ({niced['p95'] - idle['p95']:+.0f} ms niced)."
        + (
            f" With both workers pinned to one core, leaving the API a core, p95 was"
            f" {_ms(pin['p95'])} ({_verdict(pin['p95'])})."
            if pin
            else ""
        )
        + " The API never waits on processing: it stores the original, commits the row and"
        " publishes a message. What it waits for under load is CPU, shared here with two"
        " busy decoders and every other process of the machine (see the load average"
        " above). Each p95 rests on the slowest few answers of its series, and on this"
        " shared machine it moves by tens of milliseconds from run to run, so only large"
        " differences between the rows mean something."
        " The burst's own answers carry 24 MP bodies (25 MB each) sent by 4 clients at"
        " once, so they measure transfer and CPU contention more than the API.",
        "",
        *_baseline_part(results, empty),
        "### Where a file's time goes (empty queue, 24 MP file)",
        "",
        "Per-stage timings the worker records on the asset (`timings`): `queue_wait` is the"
        " broker's delivery latency (upload committed → worker starts), `download` fetches"
        " the original from S3 into a temporary file (hashing it on the way), the engine's"
        " own stages follow, `upload` stores the renditions, and `total` runs from claiming"
        " the asset to committing the result (database writes included). The engine's"
        " `metadata` stage includes LibRaw's unpacking of the sensor data, which the decode"
        " then reuses.",
        "",
        stage_table(empty),
        "",
        f"Broker latency with an empty queue: p50 {_ms(queue_wait['p50'])}, p95"
        f" {_ms(queue_wait['p95'])}.",
        "",
        "**Overhead per file outside the engine** (download + rendition upload + database),"
        f" over every corpus file of the throughput runs: p50 {_ms(outside['p50'])}, p95"
        f" {_ms(outside['p95'])}.",
        "",
        per_file_table(corpus_done),
        "",
        "### Worker memory across many files",
        "",
        f"One worker (concurrency 1) processed {mem['files']} files: small synthetic DNGs"
        " (600x400, distinct content; half without an embedded preview, so they decode from"
        f" sensor data), with every {MEMORY_LARGE_EVERY}th file one of the corpus files above"
        f" in turn ({mem['files'] // MEMORY_LARGE_EVERY} large decodes mixed in, where heap"
        " fragmentation would show). The resident memory of the worker process and its pool"
        " process was sampled every second, so the short peaks of the large files mostly fall"
        " between samples; the pool process's own high-water mark (VmHWM) over the run was"
        f" {mem['pool_peak_mb']:.0f} MB. `worker_max_memory_per_child`"
        " (`RAWPROC_WORKER_MAX_MEMORY_KB`) was off, so no recycling could hide growth:"
        f" {mem['pool_processes_seen']} pool process(es) served the whole run.",
        "",
        "![Worker memory across files](images/worker_memory.png)",
        "",
        "| files | worker total, median | pool process, median | worker total, max sampled |",
        "|---|---:|---:|---:|",
        *(
            f"| {q * mem['files'] // 4 + 1}-{(q + 1) * mem['files'] // 4}"
            f" | {row['total_mb']:.0f} MB | {row['pool_mb']:.0f} MB | {row['max_mb']:.0f} MB |"
            for q, row in enumerate(quarters)
        ),
        "",
        f"Median pool-process memory moved {quarters[1]['pool_mb'] - quarters[0]['pool_mb']:+.0f}"
        f" MB from the first quarter of the files to the second, then"
        f" {quarters[3]['pool_mb'] - quarters[1]['pool_mb']:+.0f} MB over the last"
        f" {mem['files'] - mem['files'] // 4} files. A pool process keeps part of the heap a"
        " large decode used (the allocator holds freed memory for reuse), so its resident"
        " memory steps up over the first large files and then changes little; in production"
        " `RAWPROC_WORKER_MAX_MEMORY_KB` replaces a pool process that keeps more than the"
        " limit after a task (see `docs/deploy.md`).",
        "",
        "### Worker memory per file, for sizing",
        "",
        "Each file alone in a freshly started worker (concurrency 1): peak resident memory"
        " (VmHWM) of the pool process that ran the engine, with the default renditions"
        " (thumbnail and preview) and with a full-size rendition added"
        ' (`RAWPROC_FULL_RENDITION=true`, which means a full demosaic). "Idle" is the pool'
        " process before its first task (Django, Celery and the engine loaded); the worker's"
        f" main process holds a further {sizing_main:.0f} MB that does not grow with the"
        " file. See `docs/deploy.md` for sizing.",
        "",
        sizing_table(results["sizing"]),
    ]
    if results["plan"] != asdict(FULL):
        lines += [
            "",
            f"(Files per phase in this run: {results['plan']}; a full run: {asdict(FULL)}.)",
        ]
    failed = sum(r.get("failed", 0) for r in (t1, t2, bst, mem)) + sum(
        row["status"] != "ready" for row in results["sizing"]
    )
    if failed:
        lines += ["", f"**{failed} file(s) failed** during this run; see the saved results."]
    return "\n".join(lines)


def _baseline_part(results: dict[str, Any], empty: Sequence[Done]) -> list[str]:
    """The before/after table of the empty-queue runs, when the run had a baseline."""
    if "empty_baseline" not in results:
        return []
    before = [Done(**d) for d in results["empty_baseline"]]
    return [
        "### Empty queue: this code against a baseline, in the same run",
        "",
        f"A second stack ran the code of {results['baseline']} (its own database, queues,"
        " SeaweedFS and worker, the same packages); each empty-queue run uploaded the 24 MP"
        " file to both stacks in turn, the order alternating, so the machine's load fell on"
        f" both alike ({len(empty)} runs each).",
        "",
        baseline_table(empty, before, results["baseline"]),
        "",
    ]


def write_report(results: dict[str, Any], doc: Path) -> None:
    plot_memory(results["memory"], PLOT)
    write_sections(doc, {"service": report(results)})
