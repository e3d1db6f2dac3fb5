"""What a cluster run (``benchmarks.cluster``) measured, as a summary and as text.

``verdict`` checks the assets against the uploads (ready, lost, duplicated, stuck),
``summary`` is the one JSON object the run prints last, ``section`` the ``cluster`` section
of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from benchmarks.cluster import FAULTS, Plan, Run
from benchmarks.common import environment, load_note

FAULT_TEXT = {
    "worker_link_cut": "worker host `w1`'s link cut mid-task, restored {link_cut_s:.0f} s later",
    "worker_killed": "worker on `w1` killed with SIGKILL mid-task; a new one started 2 s later",
    "redis_restarted": "Redis restarted (SIGTERM, AOF kept) with tasks queued and running",
    "api_restarted": "API server restarted (SIGTERM, new gunicorn) while uploads arrive",
    "db_cut": "`w1`'s packets to PostgreSQL dropped for {db_cut_s:.0f} s mid-task",
}


def verdict(run: Run) -> dict[str, int]:
    """Counts of the promise: every accepted upload has exactly one asset, ready, whole."""
    accepted = {u.asset_id for u in run.uploads if u.asset_id}
    ids = [str(a["id"]) for a in run.assets]
    by_name = Counter(
        str(a.get("original_filename") or a.get("filename") or "") for a in run.assets
    )
    duplicated_variants = sum(
        count - 1
        for a in run.assets
        for count in Counter(v["name"] for v in a.get("variants") or []).values()
        if count > 1
    )
    duplicated_assets = sum(count - 1 for name, count in by_name.items() if name and count > 1)
    return {
        "uploads": len(run.uploads),
        "accepted": len(accepted),
        "ready": sum(a["status"] == "ready" for a in run.assets if a["id"] in accepted),
        "failed": sum(a["status"] == "failed" for a in run.assets if a["id"] in accepted),
        "lost": len(accepted - set(ids)) + sum(not u.asset_id for u in run.uploads),
        "duplicated": duplicated_assets + duplicated_variants,
        "stuck": sum(a["status"] in ("queued", "processing", "uploading") for a in run.assets),
    }


def summary(run: Run) -> dict[str, Any]:
    """The run's last line: one JSON object a script can read."""
    counts = verdict(run)
    return {
        "hosts": run.hosts,
        "uploads": counts["uploads"],
        "ready": counts["ready"],
        "lost": counts["lost"],
        "duplicated": counts["duplicated"],
        "stuck": counts["stuck"],
        "files_per_min": run.files_per_min,
        "faults": [
            {"kind": f.kind, "affected": f.affected, "recovered_s": f.recovered_s}
            for f in run.faults
        ],
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def section(run: Run, plan: Plan) -> str:
    counts = verdict(run)
    answers = [u.answer_s * 1000 for u in run.uploads if u.asset_id]
    retried = sum(u.attempts > 1 for u in run.uploads)
    rows = [
        f"| {FAULT_TEXT[f.kind].format(**vars(plan))} | {f.affected} | {f.recovered_s:.0f} s"
        f"{f' ({f.note})' if f.note else ''} |"
        for f in sorted(run.faults, key=lambda f: FAULTS.index(f.kind))
    ]
    return "\n".join(
        [
            "## Cluster",
            "",
            "`uv run python -m benchmarks.cluster`: the service on five hosts, each in its own"
            " network namespace on a private bridge (`svc`: PostgreSQL, Redis with AOF,"
            " SeaweedFS; `api`: gunicorn, 2 processes x 4 threads; `w1`, `w2`: one Celery"
            " worker each, concurrency 1, pinned to its own core; `beat`). The client uploads"
            " from outside, half multipart through the API host, half straight to the S3 host."
            f" Files: {run.files}. Recovery timeouts are shortened for the run (visibility"
            " timeout 15 s, stale sweep every 3 s); docs/deploy.md maps each onto production.",
            "",
            "| figure | result |",
            "|---|---|",
            f"| files per minute, 1 worker host | {run.files_per_min.get('1', 0):.1f} |",
            f"| files per minute, 2 worker hosts | {run.files_per_min.get('2', 0):.1f} |",
            f"| upload answer p50 / p95 | {statistics.median(answers):.0f} ms /"
            f" {_percentile(answers, 0.95):.0f} ms |"
            if answers
            else "| upload answer p50 / p95 | no uploads |",
            f"| uploads (retried by the client) | {counts['uploads']} ({retried}) |",
            f"| ready / failed | {counts['ready']} / {counts['failed']} |",
            f"| lost / duplicated / stuck | {counts['lost']} / {counts['duplicated']} /"
            f" {counts['stuck']} |",
            f"| whole run | {run.elapsed_s:.0f} s |",
            "",
            "| fault (while uploads were processed) | assets affected | last affected ready |",
            "|---|---:|---:|",
            *rows,
            "",
            environment() + " " + load_note(run.load_at_start),
        ]
    )
