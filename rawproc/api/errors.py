"""One error shape everywhere: ``{"code": "...", "message": "..."}`` (plus ``fields``).

Codes are stable and documented in docs/api.md; clients switch on them, never on messages.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from rawproc.services import errors as service_errors
from rawproc.storage import ObjectNotFound, StorageUnavailable

logger = logging.getLogger(__name__)


class FileTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "file_too_large"
    default_detail = "The file is larger than the upload size limit."


class MissingFile(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "missing_file"
    default_detail = "The request has no file in its 'file' field."


_SERVICE_STATUS: dict[type[service_errors.ServiceError], int] = {
    service_errors.UploadTooLarge: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    service_errors.UnsupportedUpload: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    service_errors.EmptyUpload: status.HTTP_400_BAD_REQUEST,
    service_errors.UploadIncomplete: status.HTTP_409_CONFLICT,
    service_errors.UploadSizeMismatch: status.HTTP_400_BAD_REQUEST,
    service_errors.InvalidState: status.HTTP_409_CONFLICT,
    service_errors.UploadAlreadyWritten: status.HTTP_409_CONFLICT,
    service_errors.UploadGone: status.HTTP_410_GONE,
    service_errors.QuotaExceeded: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    service_errors.AssetNotReady: status.HTTP_409_CONFLICT,
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


# --- Request shapes: errors Django raises while reading a request ----------------------
# Raised wherever the body or the query string is first read (a DRF parser, a Django view,
# the CSRF check); each becomes a 4xx with a stable code instead of a 500.
_SHAPE_ERRORS: tuple[tuple[type[Exception], int, str, str], ...] = (
    (
        RequestDataTooBig,
        413,
        "request_too_large",
        "The request body is larger than this endpoint accepts.",
    ),
    (TooManyFieldsSent, 400, "too_many_fields", "The request has too many fields."),
    (TooManyFilesSent, 400, "too_many_files", "The request has too many files."),
    (MultiPartParserError, 400, "malformed_multipart", "The multipart body is malformed."),
    (SuspiciousOperation, 400, "bad_request", "Bad request."),
)


def request_shape_error(exc: BaseException) -> tuple[int, str, str] | None:
    """``(status, code, message)`` for an error in the shape of a request, else ``None``."""
    for kind, status_code, code, message in _SHAPE_ERRORS:
        if isinstance(exc, kind):
            return status_code, code, message
    return None


def request_shape_response(exc: BaseException) -> JsonResponse | None:
    """The JSON answer to an error in the shape of a request, else ``None``."""
    shape = request_shape_error(exc)
    return None if shape is None else json_error(*shape)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: service, storage and DRF errors all become the one shape.

    Rendered as JSON whatever the view renders otherwise (the schema's YAML, the docs'
    HTML, the browsable API), so every error of the API has the one shape.
    """
    response = _error_response(exc, context)
    request = context.get("request")
    if response is not None and request is not None:
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type
    return response


def _error_response(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, service_errors.ServiceError):
        http = _SERVICE_STATUS.get(type(exc), status.HTTP_400_BAD_REQUEST)
        return Response(error_body(exc.code, exc.message), status=http)
    shape = request_shape_error(exc)
    if shape is not None:
        http, code, message = shape
        return Response(error_body(code, message), status=http)
    if isinstance(exc, StorageUnavailable):
        logger.warning("object storage unavailable: %s", exc)
        return Response(
            error_body("storage_unavailable", "Object storage is unavailable; retry later."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    if isinstance(exc, ObjectNotFound):
        return Response(
            error_body("not_found", "The file is no longer in storage."),
            status=status.HTTP_404_NOT_FOUND,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled error in %s", context.get("view"), exc_info=exc)
        return Response(
            error_body("internal_error", "An unexpected error occurred."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    assert isinstance(exc, exceptions.APIException)
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(
            "validation_error", "The request is not valid.", fields=response.data
        )
    else:
        detail = exc.detail
        code = getattr(detail, "code", None) or exc.default_code
        response.data = error_body(str(code), str(detail))
    return response


def json_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


def service_error(exc: service_errors.ServiceError) -> JsonResponse:
    """A service's refusal as a plain Django response (views outside DRF)."""
    http = _SERVICE_STATUS.get(type(exc), status.HTTP_400_BAD_REQUEST)
    return json_error(http, exc.code, exc.message)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """``handler404`` for URLs outside the API views."""
    return json_error(404, "not_found", "Not found.")


def server_error(request: HttpRequest) -> JsonResponse:
    """``handler500``: never an HTML page."""
    return json_error(500, "internal_error", "An unexpected error occurred.")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """``handler400``: Django's answer to a SuspiciousOperation outside the API views."""
    shape = request_shape_error(exception) if exception is not None else None
    return (
        json_error(*shape) if shape is not None else json_error(400, "bad_request", "Bad request.")
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(403, "permission_denied", "You do not have permission to do this.")


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    """``CSRF_FAILURE_VIEW``: a form post without a valid CSRF token, outside the API views."""
    return json_error(403, "permission_denied", f"CSRF check failed: {reason}".strip(": "))
