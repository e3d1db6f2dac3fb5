"""The service on a cluster of hosts (network namespaces), with every kind of fault.

A short run of ``benchmarks.cluster``, the same harness and client: five hosts on a private
bridge, uploads from outside (multipart through the API host and straight to the S3 host),
throughput with one and two worker hosts, then a worker host's link cut, a worker killed
with SIGKILL, Redis restarted, the API server restarted and a worker's database connection
cut, each while uploads are processed. Every upload must end ``ready``: none lost,
duplicated or stuck. Skipped, with the reason, where namespaces cannot be made.
"""

from __future__ import annotations

import pytest

from benchmarks.cluster import FAULTS, Plan, measure
from benchmarks.cluster_report import summary, verdict
from harness.cluster import cluster_unavailable

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.timeout(1200)]


def test_every_upload_ends_ready_through_every_fault() -> None:
    reason = cluster_unavailable()
    if reason:
        pytest.skip(f"no cluster on this machine: {reason}")
    run = measure(Plan.smoke(), samples=None)
    result = summary(run)
    counts = verdict(run)
    assert result["hosts"] == 5
    assert result["uploads"] >= 2 * Plan.smoke().per_phase + len(FAULTS) * Plan.smoke().per_fault
    assert (result["lost"], result["duplicated"], result["stuck"]) == (0, 0, 0), result
    assert counts["failed"] == 0, result
    assert result["ready"] == result["uploads"], result
    assert [f["kind"] for f in result["faults"]] == list(FAULTS)
    assert all(f["affected"] >= 1 for f in result["faults"]), result
    assert set(result["files_per_min"]) == {"1", "2"}
    assert all(rate > 0 for rate in result["files_per_min"].values())
