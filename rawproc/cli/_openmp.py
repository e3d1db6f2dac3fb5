"""Thread budget for LibRaw in processes that decode side by side."""

from __future__ import annotations

import os
from collections.abc import MutableMapping


def share_cores(env: MutableMapping[str, str], processes: int) -> None:
    """Give each of ``processes`` decoding processes its share of the cores.

    LibRaw spreads a decode over every core with OpenMP. With several decoding processes
    that oversubscribes the machine and slows all of them, so unless the user set
    ``OMP_NUM_THREADS`` each process gets ``cores // processes`` threads (at least one).
    The variable is read when a process loads OpenMP, so it is set before children start.
    """
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, processes))))
