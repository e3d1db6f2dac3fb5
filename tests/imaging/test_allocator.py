"""The allocator settings of decoding processes: band temporaries come from the heap and
stay there, instead of new pages the kernel faults in for every band."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rawproc.imaging.allocator import tune_allocator
from tests.fixtures.dngmaker import make_dng

# Page faults of one full-size develop in a fresh process (what a worker's first file
# pays), with glibc's defaults or with the decoding processes' settings.
FAULTS = """
import json, resource, sys
from rawproc.imaging import BUILTIN, DEFAULT_SPECS, EngineOptions, process_raw
if sys.argv[2] == "tuned":
    from rawproc.imaging.allocator import tune_allocator
    assert tune_allocator()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
process_raw(sys.argv[1], (*DEFAULT_SPECS, BUILTIN["full"]), EngineOptions(force_sensor=True))
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before))
"""


def _faults(path: Path, mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", FAULTS, str(path), mode],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    ).stdout
    return int(json.loads(out.splitlines()[-1]))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_a_full_size_develop_does_not_fault_in_new_pages_for_every_band(tmp_path: Path) -> None:
    path = tmp_path / "sensor.dng"
    make_dng(path, width=2400, height=1600, preview="none")
    default, tuned = _faults(path, "default"), _faults(path, "tuned")
    # Measured: 59,000 against 11,000 faults for 6 MP, 355,000 against 30,000 for 24 MP.
    assert tuned * 2 < default


def test_tuning_is_idempotent_and_reports_what_it_did() -> None:
    first = tune_allocator()
    assert tune_allocator() == first
    if sys.platform.startswith("linux"):
        assert first


def test_the_worker_tunes_itself_and_each_pool_process() -> None:
    from celery.signals import worker_init, worker_process_init

    from rawproc import tasks

    for signal in (worker_init, worker_process_init):
        receivers = [ref() for _, ref in signal.receivers]
        assert tasks.decode_allocator in receivers
