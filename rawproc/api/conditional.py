"""Conditional GETs for asset lists and details: ``ETag`` and ``If-None-Match`` (``304``).

The validator is weak: it names what the answer says (which assets, changed when, with
which renditions, for which query and host), not its bytes, which differ on every request
because signed URLs are signed anew. It is computed from the rows the view has loaded
anyway, so a ``304`` skips the signing and serialising of every URL.

Signed URLs expire. So the validator also names the half of the URL lifetime the request
falls in: a client that revalidates a cached answer gets ``304`` only while the URLs in it
still have at least half their lifetime left, and a fresh answer after that.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable

from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags
from rest_framework.request import Request
from rest_framework.response import Response

from rawproc.models import Asset

# Answers carry signed URLs and a user's library: no HTTP cache keeps them (Back after
# signing out must not show them). A client revalidates the body it keeps itself.
CACHE_CONTROL = "no-store"


def url_window(expires_in: int, now: float | None = None) -> int:
    """The number of the half-lifetime period of signed URLs that ``now`` falls in."""
    half = max(1, expires_in // 2)
    return int((time.time() if now is None else now) // half)


def assets_etag(
    assets: Iterable[Asset], *, scope: str, expires_in: int, now: float | None = None
) -> str:
    """A weak ETag of the answer about ``assets`` (their variants prefetched)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{scope}\n{expires_in}\n{url_window(expires_in, now)}\n".encode())
    for asset in assets:
        digest.update(f"{asset.pk}|{asset.updated_at.isoformat()}|".encode())
        for variant in asset.variants.all():
            digest.update(f"{variant.pk}:{variant.storage_key};".encode())
        digest.update(b"\n")
    return f'W/"{digest.hexdigest()}"'


def request_scope(request: Request, *extra: object) -> str:
    """What besides the rows shapes the answer: who asks, through which host, what query."""
    query = "&".join(
        sorted(f"{k}={v}" for k, values in request.query_params.lists() for v in values)
    )
    parts = [str(request.user.pk), request.get_host(), request.path, query, *map(str, extra)]
    return "\n".join(parts)


def not_modified(request: Request, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, as RFC 9110 asks for GET)."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    tags = parse_etags(header)
    if "*" in tags:
        return True
    return _opaque(etag) in {_opaque(tag) for tag in tags}


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def with_validator(response: Response, etag: str) -> Response:
    """Mark an answer (``200`` or ``304``) with its ETag and how clients may cache it."""
    response["ETag"] = etag
    response["Cache-Control"] = CACHE_CONTROL
    patch_vary_headers(response, ("Authorization", "Cookie"))
    return response
