"""``Cache-Control: no-store`` on every answer of the app that does not say otherwise.

Pages show a user's library and API answers carry signed URLs: neither may be kept by a
browser or a shared cache, so Back after signing out refetches the page (and is sent to the
sign-in page) instead of showing the previous user's gallery. Static files are answered
before this middleware (WhiteNoise) and keep their long cache lifetimes; a view that sets
its own ``Cache-Control`` (signed file downloads) keeps it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class NoStoreMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        return response
