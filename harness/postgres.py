"""PostgreSQL for the harness: a scratch database on a running server, or a private server.

``scratch_database`` gives each run a database of its own on the machine's server, dropped
afterwards. ``PostgresServer`` runs a whole server of its own (``initdb`` into a temporary
folder, owned by the ``postgres`` system user) on any host, for the cluster run, whose
database machine must be reached over the network like a real one.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from harness.hosts import LOOPBACK, Host
from harness.processes import ServiceUnavailable, free_ports, terminate, wait_port

START_TIMEOUT = 60.0


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """A PostgreSQL database of its own on ``server_url``'s server, dropped afterwards, so
    separate processes share committed data without touching anyone else's."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise ServiceUnavailable(f"cannot create a database on {server_url}: {exc}") from exc
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _server_binaries() -> Path:
    """The newest installed PostgreSQL's bin folder (Debian keeps them out of PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ServiceUnavailable("PostgreSQL server binaries not found (apt-get install postgresql)")


class PostgresServer:
    """A private PostgreSQL server on ``host`` with trust authentication, one database ``app``.

    The server refuses to run as root, so it runs as the ``postgres`` system user
    (``setpriv``); its folder is made for that user.
    """

    user = "postgres"

    def __init__(self, data_dir: Path, host: Host = LOOPBACK) -> None:
        self.host = host
        self.bin = _server_binaries()
        (self.port,) = free_ports(1)
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self.url = f"postgres://postgres@{host.address}:{self.port}/app"
        self._process: subprocess.Popen[bytes] | None = None

    def _as_postgres(self, argv: list[str]) -> list[str]:
        return [
            "setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--init-groups",
            *argv,
        ]  # fmt: skip

    def init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.data_dir, self.user, self.user)
        subprocess.run(
            self._as_postgres(
                [str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                 "--auth=trust", "--no-sync", "-E", "UTF8"]
            ),
            check=True, capture_output=True,
        )  # fmt: skip
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '{self.host.address}'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.data_dir}'\nmax_connections = 200\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        with (self.data_dir / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 0.0.0.0/0 trust\n")

    def start(self, timeout: float = START_TIMEOUT) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.host.command(
                    self._as_postgres([str(self.bin / "postgres"), "-D", str(self.data_dir)])
                ),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        wait_port(
            self.host.address, self.port, self._process, name="PostgreSQL",
            timeout=timeout, log=self.log_path,
        )  # fmt: skip

    def create_database(self, name: str = "app") -> None:
        import psycopg

        admin = urlunsplit(urlsplit(self.url)._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self, timeout: float = 30.0) -> None:
        process, self._process = self._process, None
        terminate(process, timeout)
