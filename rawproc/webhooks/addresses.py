"""Which addresses a webhook may be sent to (server-side request forgery), Django-free.

A webhook URL is fetched by our servers, so it must not reach what only they can reach:
loopback, private networks, link-local addresses (169.254.0.0/16 holds the cloud metadata
service) and other special ranges. ``allow_private`` (test and on-premise setups) allows
loopback and private ranges, never link-local, metadata, multicast, reserved or unspecified
addresses. IPv4 addresses embedded in IPv6 (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible
``::a.b.c.d``, NAT64 ``64:ff9b::/96``) are judged as the IPv4 address they carry.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2000
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# Metadata services outside the link-local range: AWS over IPv6, Alibaba Cloud.
_METADATA = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}


class UrlRefused(Exception):
    """The URL cannot be used; ``code`` is stable (see docs/api.md)."""

    code = "webhook_url_invalid"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class UrlInvalid(UrlRefused):
    code = "webhook_url_invalid"


class UrlUnresolvable(UrlRefused):
    code = "webhook_url_unresolvable"


class UrlForbidden(UrlRefused):
    code = "webhook_url_forbidden"


def embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64), else ``ip``."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def refusal(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why ``ip`` may not receive webhooks (a short phrase), or ``None`` when it may."""
    ip = embedded_ipv4(ip)
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local or ip in _METADATA:
        return "a link-local or cloud metadata address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_loopback:
        return None if allow_private else "a loopback address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private or not ip.is_global:
        return None if allow_private else "a private or special-purpose address"
    return None


def parse_url(url: str, *, allow_private: bool) -> SplitResult:
    """The URL split, when its form is acceptable: http(s) with a host, no credentials;
    plain ``http`` only with ``allow_private``."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlInvalid(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise UrlInvalid("The URL contains whitespace or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlInvalid(f"The URL is malformed: {exc}.") from None
    if parts.scheme not in ("http", "https"):
        raise UrlInvalid("Only http and https URLs are accepted.")
    if parts.scheme == "http" and not allow_private:
        raise UrlInvalid("The URL must use https.")
    if not parts.hostname:
        raise UrlInvalid("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UrlInvalid("The URL must not contain a user name or password.")
    if port == 0:
        raise UrlInvalid("The URL's port must be between 1 and 65535.")
    return parts


def default_port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def resolve(host: str, port: int, *, allow_private: bool) -> list[IPAddress]:
    """Every address ``host`` resolves to, when all of them may receive webhooks.

    A single refused address refuses the host: a name that resolves to both a public and a
    private address could be answered with either when the request is sent.
    """
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise UrlUnresolvable(f"The host {host} does not resolve: {exc}.") from None
        # The scope of a link-local IPv6 address ("fe80::1%eth0") is not part of the address.
        addresses = list(
            dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)
        )
    if not addresses:
        raise UrlUnresolvable(f"The host {host} has no address.")
    for ip in addresses:
        reason = refusal(ip, allow_private=allow_private)
        if reason is not None:
            raise UrlForbidden(f"The host {host} resolves to {ip}, {reason}.")
    return addresses


def check_url(url: str, *, allow_private: bool) -> list[IPAddress]:
    """The addresses ``url`` may be sent to; ``UrlRefused`` when it may not be used."""
    parts = parse_url(url, allow_private=allow_private)
    assert parts.hostname is not None
    return resolve(parts.hostname, default_port(parts), allow_private=allow_private)
