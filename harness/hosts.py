"""Hosts for the servers: loopback, or machines of their own in Linux network namespaces.

A ``Host`` is an address plus the way to run a command there. ``LOOPBACK`` runs commands as
they are; a namespace host runs them under ``ip netns exec``, so the process sees only its
own interface and reaches the others by address over a bridge, as on a real network.
``Network`` makes the bridge and the hosts for one run (names and subnet of their own, so
runs never meet) and removes all of it at the end, also after a failure or Ctrl-C.

Faults a real network has are modelled the way this kernel allows: a host's link is cut
(``cut``/``restore``, the interface down and up) rather than delayed or lossy.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Host:
    """Where a server runs: its name, the address others reach it at, its namespace."""

    name: str
    address: str
    netns: str | None = None
    interface: str | None = None

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` as run on this host."""
        if self.netns is None:
            return list(argv)
        return ["ip", "netns", "exec", self.netns, *argv]


LOOPBACK = Host("loopback", "127.0.0.1")


def namespaces_unavailable() -> str | None:
    """Why network namespaces cannot be made here, or ``None`` when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    probe = f"rpprobe{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str, netns: str | None = None, check: bool = True) -> None:
    argv = ["ip", *(["netns", "exec", netns, "ip"] if netns else []), *args]
    result = subprocess.run(argv, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")


def _used_networks() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    return [ipaddress.IPv4Interface(word).network for word in out.split() if "/" in word]


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.213.0.0/16 that no interface of this machine uses."""
    used = _used_networks()
    for third in range(int(uuid.uuid4().int % 200) + 20, 256):
        candidate = ipaddress.IPv4Network(f"10.213.{third}.0/24")
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    raise RuntimeError("no free /24 in 10.213.0.0/16")


@dataclass
class Network:
    """A private bridge and the hosts attached to it, made for one run."""

    run: str = field(default_factory=lambda: uuid.uuid4().hex[:5])
    subnet: ipaddress.IPv4Network = field(default_factory=_free_subnet)
    hosts: dict[str, Host] = field(default_factory=dict)
    _made: list[tuple[str, str]] = field(default_factory=list)  # (kind, name) to remove

    @property
    def bridge(self) -> str:
        return f"rpbr{self.run}"

    @property
    def gateway(self) -> str:
        """The bridge's own address: how the root namespace (the client) reaches the hosts."""
        return str(self.subnet.network_address + 1)

    def create(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        self._made.append(("link", self.bridge))
        _ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        self._allow_forwarding()

    def _allow_forwarding(self) -> None:
        """Bridged traffic passes iptables' FORWARD chain when br_netfilter is loaded (Docker
        loads it and sets the policy to DROP): let this bridge's own traffic through."""
        if shutil.which("iptables") is None:
            return
        rule = ["FORWARD", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT"]
        if subprocess.run(["iptables", "-I", *rule], capture_output=True).returncode == 0:
            self._made.append(("iptables", " ".join(rule)))

    def add_host(self, name: str) -> Host:
        """A namespace with one interface on the bridge and the next free address."""
        index = len(self.hosts) + 2
        netns = f"rp{self.run}-{name}"
        inside, outside = f"rp{self.run}{index}i", f"rp{self.run}{index}o"
        _ip("netns", "add", netns)
        self._made.append(("netns", netns))
        _ip("link", "add", inside, "type", "veth", "peer", "name", outside)
        self._made.append(("link", outside))
        _ip("link", "set", inside, "netns", netns)
        _ip("link", "set", outside, "master", self.bridge)
        _ip("link", "set", outside, "up")
        address = str(self.subnet.network_address + index)
        _ip("addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", inside, netns=netns)
        _ip("link", "set", inside, "up", netns=netns)
        _ip("link", "set", "lo", "up", netns=netns)
        host = Host(name, address, netns, inside)
        self.hosts[name] = host
        return host

    def cut(self, host: Host) -> None:
        """Take the host's link down: it can reach nobody and nobody can reach it."""
        assert host.netns and host.interface
        _ip("link", "set", host.interface, "down", netns=host.netns)

    def restore(self, host: Host) -> None:
        assert host.netns and host.interface
        _ip("link", "set", host.interface, "up", netns=host.netns)

    def destroy(self) -> None:
        """Remove everything this network made, newest first; never fails half-way."""
        for kind, name in reversed(self._made):
            with contextlib.suppress(Exception):
                if kind == "netns":
                    _ip("netns", "del", name, check=False)
                elif kind == "link":
                    _ip("link", "del", name, check=False)
                elif kind == "iptables":
                    subprocess.run(["iptables", "-D", *name.split()], capture_output=True)
        self._made.clear()
        self.hosts.clear()


@contextlib.contextmanager
def network(names: Sequence[str]) -> Iterator[Network]:
    """A network with one host per name; removed at the end whatever happens."""
    net = Network()
    try:
        net.create()
        for name in names:
            net.add_host(name)
        yield net
    finally:
        net.destroy()
