"""Forwarded headers count only from the proxies named in ``RAWPROC_TRUSTED_PROXIES``.

Django honours ``SECURE_PROXY_SSL_HEADER`` (``X-Forwarded-Proto``) from whoever sends it; a
client talking to the app directly could claim HTTPS and get secure-only behaviour on plain
HTTP. This middleware runs first and drops the forwarded headers unless ``REMOTE_ADDR``
is one of the trusted proxies (addresses or CIDR networks). ``client_ip`` gives the
client's address the same way, for the sign-in lockout (django-axes).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDED_HEADERS = ("HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED")


@lru_cache(maxsize=8)
def parse_networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry)


def trusted_networks() -> tuple[IPNetwork, ...]:
    entries: Iterable[str] = settings.RAWPROC_TRUSTED_PROXIES
    return parse_networks(tuple(entries))


def is_trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in trusted_networks())


class TrustedProxyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        ssl_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
        self.headers = {*FORWARDED_HEADERS, *([ssl_header[0]] if ssl_header else [])}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_trusted(request.META.get("REMOTE_ADDR", "")):
            for header in self.headers:
                request.META.pop(header, None)
        return self.get_response(request)


def client_ip(request: HttpRequest) -> str:
    """The nearest address in ``X-Forwarded-For`` that is not a trusted proxy.

    ``REMOTE_ADDR`` itself when the peer is not a trusted proxy (the middleware has then
    dropped the header already) or the header names no one else.
    """
    address = str(request.META.get("REMOTE_ADDR", ""))
    if not is_trusted(address):
        return address
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
    hops = [hop.strip() for hop in forwarded.split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not is_trusted(hop):
            return hop
    return address
