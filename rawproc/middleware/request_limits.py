"""Refuse requests by their shape before anything reads them: no request shape reaches a 5xx.

Checked in order, each with the JSON error shape (rawproc.api.errors):

- a URI longer than ``RAWPROC_MAX_URI_BYTES``: ``414 uri_too_long``;
- more query parameters than ``DATA_UPLOAD_MAX_NUMBER_FIELDS``: ``400 too_many_parameters``;
- a declared body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``: ``413 request_too_large``,
  from ``Content-Length`` alone. Multipart bodies to the two upload routes are bounded by
  ``RAWPROC_MAX_UPLOAD_BYTES`` instead, which their views check the same way
  (``413 file_too_large``).

Errors raised later while a body is parsed (too many fields or files, malformed multipart,
a text field over the limit) are answered here for the plain Django views (pages, signed
file URLs, admin) and by the DRF exception handler for the API views.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, HttpResponse

from rawproc.api.errors import json_error, request_shape_response

# Routes whose multipart bodies carry a RAW file, bounded by the upload size limit.
UPLOAD_ROUTES = frozenset({"asset-list", "rawproc-upload"})


def declared_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


class RequestLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.refuse_uri(request) or self.get_response(request)

    @staticmethod
    def refuse_uri(request: HttpRequest) -> HttpResponse | None:
        limit: int = settings.RAWPROC_MAX_URI_BYTES
        length = len(request.META.get("RAW_URI") or "") or (
            len(request.path_info) + len(request.META.get("QUERY_STRING", "")) + 1
        )
        if length > limit:
            return json_error(414, "uri_too_long", f"The URI is longer than {limit} bytes.")
        try:
            request.GET  # noqa: B018 (parsed here, with Django's limit on the number of fields)
        except TooManyFieldsSent:
            return json_error(
                400,
                "too_many_parameters",
                f"The query string has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} "
                "parameters.",
            )
        return None

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        match = request.resolver_match
        uploads = (match is not None and match.url_name in UPLOAD_ROUTES) and (
            request.content_type == "multipart/form-data"
        )
        limit: int = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if not uploads and declared_length(request) > limit:
            return json_error(
                413, "request_too_large", f"The request body is larger than {limit} bytes."
            )
        is_api_view = hasattr(view_func, "cls")  # DRF parses lazily, with its own handler
        checks_csrf = not getattr(view_func, "csrf_exempt", False)
        if request.method == "POST" and checks_csrf and not is_api_view:
            # The CSRF check reads the form before the view runs; parse it here, where an
            # error in its shape can still be answered.
            try:
                request.POST  # noqa: B018
            except Exception as exc:
                answer = request_shape_response(exc)
                if answer is None:
                    raise
                return answer
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return request_shape_response(exception)
