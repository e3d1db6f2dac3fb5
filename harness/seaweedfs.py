"""SeaweedFS (``weed mini``), the S3 server of the tests, benchmarks and cluster run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.hosts import LOOPBACK, Host
from harness.processes import ServiceUnavailable, free_ports, terminate

SEAWEEDFS_START_TIMEOUT = 30.0


def find_weed() -> str:
    """Locate the ``weed`` binary: on PATH, or beside the running interpreter (the venv)."""
    candidates = [shutil.which("weed"), str(Path(sys.executable).parent / "weed")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ServiceUnavailable(
        "SeaweedFS binary 'weed' not found; install the dev dependencies with `uv sync`"
    )


class SeaweedFS:
    """One ``weed mini`` server (master, volume, filer and S3 gateway) on ``host``.

    Requests must be signed with ``access_key``/``secret_key``: the server is given an
    identities file, without which it would accept anonymous writes. ``stop()`` and
    ``start()`` keep the ports and data directory, so an outage can be simulated and the
    stored objects are back afterwards.
    """

    region = "us-east-1"

    def __init__(self, data_dir: Path, binary: str | None = None, host: Host = LOOPBACK) -> None:
        self.binary = binary or find_weed()
        self.data_dir = data_dir
        self.access_key = "test-" + uuid.uuid4().hex[:12]
        self.secret_key = uuid.uuid4().hex + uuid.uuid4().hex
        self.host = host
        master, volume, filer, s3, admin = free_ports(5)
        self._master_url = f"http://{host.address}:{master}"
        self.endpoint_url = f"http://{host.address}:{s3}"
        self.log_path = data_dir / "weed.log"
        self._config_path = data_dir / "s3.json"
        self._store_dir = data_dir / "store"
        self._store_dir.mkdir(parents=True, exist_ok=True)
        self._config_path.write_text(json.dumps(self._identities()))
        self._args = [
            self.binary,
            "mini",
            f"-dir={self._store_dir}",
            f"-ip={host.address}",
            f"-ip.bind={host.address}",
            f"-master.port={master}",
            f"-volume.port={volume}",
            f"-filer.port={filer}",
            f"-s3.port={s3}",
            f"-admin.port={admin}",
            f"-s3.config={self._config_path}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
        ]
        self._process: subprocess.Popen[bytes] | None = None

    def _identities(self) -> dict[str, Any]:
        credentials = [{"accessKey": self.access_key, "secretKey": self.secret_key}]
        actions = ["Admin", "Read", "List", "Tagging", "Write"]
        return {"identities": [{"name": "app", "credentials": credentials, "actions": actions}]}

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = SEAWEEDFS_START_TIMEOUT) -> None:
        """Start the server and wait until the S3 gateway answers; raise if it does not."""
        if self.running:
            return
        # AWS_* keys in its environment also act as credentials; only the identities file may.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.host.command(self._args),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServiceUnavailable(
                    f"SeaweedFS exited with status {self._process.returncode} while starting."
                    f"\n{self._log_tail()}"
                )
            if self._s3_refuses_anonymous() and self._volumes_registered():
                return
            time.sleep(0.1)
        self.stop()
        raise ServiceUnavailable(
            f"SeaweedFS did not answer on {self.endpoint_url} within {timeout:.0f} s."
            f"\n{self._log_tail()}"
        )

    def _s3_refuses_anonymous(self) -> bool:
        """Readiness probe: once the gateway is up, an unsigned request is refused with 403."""
        try:
            urllib.request.urlopen(self.endpoint_url + "/", timeout=1)
        except urllib.error.HTTPError as exc:
            return exc.code == 403
        except OSError:
            return False
        return False

    def _volumes_registered(self) -> bool:
        """True once the master knows the volume server and every volume already on disk.

        After a restart the S3 gateway answers before the volume server's first heartbeat
        reaches the master; reads in that window fail with "volume not found".
        """
        try:
            with urllib.request.urlopen(self._master_url + "/dir/status", timeout=1) as response:
                status = json.load(response)
        except (OSError, ValueError):
            return False
        nodes = [
            node
            for center in status.get("Topology", {}).get("DataCenters") or []
            for rack in center.get("Racks") or []
            for node in rack.get("DataNodes") or []
        ]
        on_disk = len(list(self._store_dir.glob("*.dat")))
        return bool(nodes) and sum(int(node.get("Volumes", 0)) for node in nodes) >= on_disk

    def _log_tail(self, lines: int = 20) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"(no log at {self.log_path})"
        return f"Last lines of {self.log_path}:\n" + "\n".join(tail)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server by its own process id; the ports and data stay reserved for start()."""
        process, self._process = self._process, None
        terminate(process, timeout)

    @contextmanager
    def down(self) -> Iterator[None]:
        """Take storage down for the duration of the block; it is restarted even on failure."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def client(self) -> Any:
        """A boto3 S3 client signed with this server's keys (path-style, SigV4)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def create_bucket(self, prefix: str = "test") -> str:
        """Create a bucket named ``<prefix[:30]>-<uuid hex>`` (at most 63 characters)."""
        name = f"{prefix[:30]}-{uuid.uuid4().hex}"
        self.client().create_bucket(Bucket=name)
        return name
