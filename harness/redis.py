"""A Redis server of the harness's own, with AOF persistence as production runs it."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from harness.hosts import LOOPBACK, Host
from harness.processes import SERVICE_CHECK_TIMEOUT, ServiceUnavailable, free_ports, port_answers
from harness.processes import terminate as _terminate


class RedisServer:
    """A private ``redis-server`` on ``host`` that a test or benchmark may stop and start
    again (same port, same data).

    For fault tests and the cluster run: the shared Redis of the machine is never restarted.
    """

    def __init__(self, data_dir: Path, host: Host = LOOPBACK) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceUnavailable(
                "redis-server not found; install Redis (apt-get install redis-server)"
            )
        self.host = host
        (self.port,) = free_ports(1)
        self.url = f"redis://{host.address}:{self.port}/0"
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self._args = [
            binary,
            *("--port", str(self.port), "--bind", host.address, "--dir", str(data_dir)),
            *("--save", "", "--appendonly", "yes", "--appendfsync", "everysec"),
            *("--protected-mode", "no", "--logfile", str(data_dir / "redis.log")),
        ]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = SERVICE_CHECK_TIMEOUT) -> None:
        self._process = subprocess.Popen(
            self.host.command(self._args), stdin=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while not port_answers(self.host.address, self.port, timeout=0.2):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise ServiceUnavailable(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: Redis writes its append-only file and exits, as on a planned restart."""
        process, self._process = self._process, None
        _terminate(process, timeout)
