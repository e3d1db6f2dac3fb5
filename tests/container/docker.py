"""Docker for the container tests: the daemon, a Debian base made here, images, compose.

No registry is needed: the base is a Debian root filesystem made by ``debootstrap`` from
Debian's package mirror and imported into Docker, cached under a tag named by a key of
what made it, so later runs reuse it; the images build on it (Docker's layer cache makes
repeated builds quick). A daemon that is not running is started, and stopped at the end
by its own process id; when it cannot start, the tests skip saying why.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEST_IMAGES = REPO / "docker" / "test-images"
BASE_RECIPE: dict[str, str | int] = {"suite": "bookworm", "variant": "minbase", "recipe": 1}
BASE_SUITE = "bookworm"
DAEMON_START_SECONDS = 60.0
BUILD_TIMEOUT_SECONDS = 1200.0
# dpkg leaves these out of every later install too, as Debian's slim images do.
_SLIM_DPKG = """path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
"""


class DockerError(RuntimeError):
    """A docker command failed; the message has its output."""


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _client_env() -> dict[str, str]:
    """Only what the docker and compose clients need: no setting of the caller leaks into
    compose's variable substitution (the stack's .env alone decides)."""
    keep = ("PATH", "HOME", "LANG", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH")
    return {k: v for k, v in os.environ.items() if k in keep}


def _buildkit_cli() -> str | None:
    """A docker client that can run BuildKit builds: one with the buildx plugin, or one
    older than 23 (BuildKit built in, as Debian's docker.io)."""
    candidates = [shutil.which("docker"), "/usr/bin/docker"]
    for cli in dict.fromkeys(c for c in candidates if c and os.access(c, os.X_OK)):
        if subprocess.run([cli, "buildx", "version"], capture_output=True).returncode == 0:
            return cli
        version = subprocess.run(
            [cli, "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True
        ).stdout.strip()
        major = re.match(r"(\d+)\.", version)
        if major and int(major.group(1)) < 23:
            return cli
    return None


class Docker:
    """The docker CLI against a running daemon (started here when it was not running)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.daemon: subprocess.Popen[bytes] | None = None
        cli = _buildkit_cli()
        if cli is None:
            pytest.skip("no docker client able to build with BuildKit (install docker.io)")
        self.cli = cli

    def run(self, *args: str, timeout: float = 300.0, env: Mapping[str, str] | None = None) -> str:
        result = subprocess.run(
            [self.cli, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**_client_env(), **(env or {})},
        )
        if result.returncode != 0:
            raise DockerError(
                f"docker {' '.join(args[:3])} failed ({result.returncode}):\n"
                f"{_tail(result.stdout + result.stderr)}"
            )
        return result.stdout

    def answers(self) -> bool:
        return (
            subprocess.run(
                [self.cli, "info"], capture_output=True, env=_client_env(), timeout=30
            ).returncode
            == 0
        )

    def ensure_daemon(self) -> None:
        """Use the running daemon, or start ``dockerd``; skip with the reason if it cannot."""
        if self.answers():
            return
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            pytest.skip("dockerd is not installed (.ci/run installs docker.io)")
        if os.geteuid() != 0:
            pytest.skip("dockerd is not running, and starting it needs root")
        log = self.workdir / "dockerd.log"
        with log.open("wb") as out:
            self.daemon = subprocess.Popen(
                [dockerd], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + DAEMON_START_SECONDS
        while time.monotonic() < deadline:
            if self.answers():
                return
            if self.daemon.poll() is not None:
                break
            time.sleep(1)
        reason = _tail(log.read_text(errors="replace"), 5)
        self.stop_daemon()
        print(f"dockerd cannot start:\n{reason}")
        pytest.skip(f"dockerd cannot start: {reason}")

    def stop_daemon(self) -> None:
        """Stop the daemon this class started (by its process id); never another one."""
        if self.daemon is None:
            return
        if self.daemon.poll() is None:
            self.daemon.terminate()
            try:
                self.daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        self.daemon = None

    def image_exists(self, tag: str) -> bool:
        return (
            subprocess.run(
                [self.cli, "image", "inspect", tag], capture_output=True, env=_client_env()
            ).returncode
            == 0
        )

    def inspect(self, target: str) -> dict[str, object]:
        data = json.loads(self.run("inspect", target))
        assert isinstance(data, list) and data
        return dict(data[0])

    def start_build(
        self, context: Path, tag: str, build_args: Mapping[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        """``docker build`` with BuildKit in the background, its output in ``log``.

        The CA bundle named by ``SSL_CERT_FILE`` (a TLS-intercepting egress) goes in as
        the ``extra_ca`` secret, which never lands in a layer.
        """
        command = [self.cli, "build", "--progress=plain", "-t", tag]
        ca = os.environ.get("SSL_CERT_FILE", "")
        if ca and Path(ca).is_file():
            command += ["--secret", f"id=extra_ca,src={ca}"]
        for name, value in build_args.items():
            command += ["--build-arg", f"{name}={value}"]
        command.append(str(context))
        with log.open("wb") as out:
            return subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**_client_env(), "DOCKER_BUILDKIT": "1"},
            )


def debian_mirror() -> str:
    """The Debian mirror apt is configured with (deb822 or one-line sources)."""
    override = os.environ.get("RAWPROC_TEST_DEBIAN_MIRROR")
    if override:
        return override
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    texts = [p.read_text(errors="replace") for p in sources]
    one_line = Path("/etc/apt/sources.list")
    if one_line.is_file():
        texts.append(one_line.read_text(errors="replace"))
    for text in texts:
        for url in re.findall(r"(?:URIs:|^deb)\s+(https?://\S+)", text, re.MULTILINE):
            if "security" not in url and "debian" in url:
                return str(url.rstrip("/"))
    return "http://deb.debian.org/debian"


def debian_base(docker: Docker) -> str:
    """A Debian bookworm base image made here, reused while its recipe and mirror hold."""
    mirror = debian_mirror()
    recipe = json.dumps({**BASE_RECIPE, "mirror": mirror, "slim": _SLIM_DPKG}, sort_keys=True)
    tag = f"raw-processor-test/debian:bookworm-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"
    if docker.image_exists(tag):
        return tag
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        pytest.fail("debootstrap is not installed (.ci/run installs it)")
    with tempfile.TemporaryDirectory(dir=docker.workdir) as tmp:
        rootfs = Path(tmp) / "rootfs"
        result = subprocess.run(
            [debootstrap, "--variant=minbase", BASE_SUITE, str(rootfs), mirror],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if result.returncode != 0:
            raise DockerError(f"debootstrap failed:\n{_tail(result.stdout + result.stderr)}")
        (rootfs / "etc/dpkg/dpkg.cfg.d/slim").write_text(_SLIM_DPKG)
        for pattern in ("var/lib/apt/lists/*", "var/cache/apt/*.bin", "usr/share/doc/*",
                        "usr/share/man/*", "usr/share/info/*", "usr/share/locale/*"):  # fmt: skip
            for path in rootfs.glob(pattern):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            [docker.cli, "import", "--change", 'CMD ["bash"]', "-", tag],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            env=_client_env(),
        )
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise DockerError(f"docker import failed:\n{imported.stderr}")
    return tag


def locked_version(package: str) -> str:
    """The version of ``package`` pinned in uv.lock."""
    text = (REPO / "uv.lock").read_text()
    match = re.search(rf'name = "{re.escape(package)}"\nversion = "([^"]+)"', text)
    if match is None:
        raise DockerError(f"{package} is not in uv.lock")
    return match.group(1)


def build_all(docker: Docker, jobs: Sequence[tuple[Path, str, dict[str, str]]]) -> None:
    """Run the builds side by side (they wait on the network as much as on the CPU)."""
    running = []
    for context, tag, args in jobs:
        log = docker.workdir / f"build-{tag.replace('/', '_').replace(':', '_')}.log"
        running.append((tag, log, docker.start_build(context, tag, args, log)))
    failures = []
    for tag, log, process in running:
        try:
            code = process.wait(timeout=BUILD_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        if code != 0:
            failures.append(f"{tag} ({code}):\n{_tail(log.read_text(errors='replace'))}")
    if failures:
        raise DockerError("image builds failed:\n" + "\n\n".join(failures))


class Compose:
    """One compose project (a unique name) of ``compose.yaml``, run from its own folder."""

    def __init__(self, docker: Docker, project_dir: Path, name: str) -> None:
        self.docker = docker
        self.project_dir = project_dir
        self.name = name
        v1 = shutil.which("docker-compose")
        self.command = [v1] if v1 else [docker.cli, "compose"]

    def run(self, *args: str, timeout: float = 600.0) -> str:
        result = subprocess.run(
            [
                *self.command,
                "--project-directory", str(self.project_dir),
                "-f", str(REPO / "compose.yaml"),
                "-p", self.name,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_client_env(),
        )  # fmt: skip
        if result.returncode != 0:
            raise DockerError(
                f"compose {' '.join(args[:2])} failed ({result.returncode}):\n"
                f"{_tail(result.stdout + result.stderr)}\n{self.logs()}"
            )
        return result.stdout

    def container_ids(self, service: str) -> list[str]:
        return self.run("ps", "-q", service).split()

    def logs(self, lines: int = 30) -> str:
        result = subprocess.run(
            [*self.command, "--project-directory", str(self.project_dir),
             "-f", str(REPO / "compose.yaml"), "-p", self.name,
             "logs", "--no-color", "--tail", str(lines)],
            capture_output=True, text=True, timeout=120, env=_client_env(),
        )  # fmt: skip
        return result.stdout[-6000:]

    def down(self) -> None:
        """Remove the project's containers, network and volumes, whatever state it is in."""
        subprocess.run(
            [*self.command, "--project-directory", str(self.project_dir),
             "-f", str(REPO / "compose.yaml"), "-p", self.name,
             "down", "-v", "--remove-orphans", "-t", "5"],
            capture_output=True, timeout=300, env=_client_env(),
        )  # fmt: skip
