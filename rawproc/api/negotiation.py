"""Content negotiation for renditions: the image format from ``Accept``, and views whose
answer (a redirect, a status) does not depend on it never refusing it with a 406."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

# Offered in this order to a client that names the type; JPEG to every client.
PREFERRED: tuple[tuple[str, str], ...] = (("avif", "image/avif"), ("webp", "image/webp"))


def accepted_types(header: str) -> dict[str, float]:
    """Media types of an ``Accept`` header with their q-values (malformed ones skipped)."""
    types: dict[str, float] = {}
    for item in header.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = max(0.0, min(1.0, float(value)))
                except ValueError:
                    quality = 0.0
        types[media.lower()] = max(quality, types.get(media.lower(), 0.0))
    return types


def negotiate_format(header: str, allowed: Sequence[str]) -> str:
    """AVIF, then WebP, to a client that names them (a wildcard is not enough: browsers
    send ``*/*`` with types they cannot show); else JPEG, or the first allowed format."""
    types = accepted_types(header)
    for fmt, media in PREFERRED:
        if fmt in allowed and types.get(media, 0.0) > 0:
            return fmt
    if "jpeg" in allowed:
        return "jpeg"
    return next((fmt for fmt, _ in PREFERRED if fmt in allowed), allowed[0])


class AnyAccept(DefaultContentNegotiation):
    """The view's first renderer when ``Accept`` names none of them: an ``Accept: image/*``
    request gets its redirect (or its JSON error) instead of a 406."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        try:
            chosen: Any = super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], str(renderers[0].media_type)
        return chosen[0], str(chosen[1])
