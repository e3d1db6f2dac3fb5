"""Signed file URLs for the embedded file storage: the app plays the part S3 plays in the cloud.

A download token names one object key, its expiry and response headers under an HMAC made
with ``SECRET_KEY``; an upload token names one incoming key and one exact size, and writes
once (``409 upload_already_written`` afterwards). Anything altered, expired or misused gets
a 403 JSON error, as an S3 presigned URL would.
"""

from __future__ import annotations

import mimetypes
import os

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt

from rawproc import storage
from rawproc.api.errors import FileTooLarge, json_error, service_error
from rawproc.api.ranges import Unsatisfiable, iter_range, parse_range
from rawproc.api.views import MULTIPART_OVERHEAD_BYTES
from rawproc.services.errors import ServiceError
from rawproc.services.uploads import upload_receive


def download(request: HttpRequest, token: str) -> HttpResponseBase:
    if request.method not in ("GET", "HEAD"):
        return json_error(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
    try:
        grant = storage.verify_download(token)
        fh = storage.open_object(grant.key)
    except storage.InvalidToken as exc:
        return json_error(403, exc.code, str(exc))
    except storage.ObjectNotFound:
        return json_error(404, "not_found", "The file no longer exists.")
    except storage.StorageUnavailable:
        return json_error(503, "storage_unavailable", "Storage is unavailable; retry later.")
    content_type = grant.content_type or mimetypes.guess_type(grant.key)[0]
    size = os.fstat(fh.fileno()).st_size
    try:
        wanted = parse_range(request.headers.get("Range"), size)
    except Unsatisfiable:
        fh.close()
        response = json_error(416, "range_not_satisfiable", f"The file has {size} bytes.")
        response["Content-Range"] = f"bytes */{size}"
        return response
    if wanted is None:
        full = FileResponse(
            fh,
            as_attachment=grant.attachment,
            filename=grant.download_name or "",
            content_type=content_type,
        )
        return _download_headers(full)
    part = StreamingHttpResponse(
        iter_range(fh, wanted), status=206, content_type=content_type or "application/octet-stream"
    )
    part["Content-Range"] = wanted.content_range(size)
    part["Content-Length"] = str(wanted.length)
    disposition = content_disposition_header(grant.attachment, grant.download_name or "")
    if disposition:
        part["Content-Disposition"] = disposition
    return _download_headers(part)


def _download_headers(response: HttpResponseBase) -> HttpResponseBase:
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=60"
    return response


@csrf_exempt  # the signed token is the credential, as with an S3 presigned POST
def upload(request: HttpRequest, token: str) -> HttpResponse:
    if request.method != "POST":
        return json_error(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
    try:
        grant = storage.verify_upload(token)
    except storage.InvalidToken as exc:
        return json_error(403, exc.code, str(exc))
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > grant.size + MULTIPART_OVERHEAD_BYTES:
        return _too_large(grant.size)
    try:
        received = request.FILES.get("file")
    except FileTooLarge:
        return _too_large(grant.size)
    if received is None:
        return json_error(400, "missing_file", "The request has no file in its 'file' field.")
    if received.size != grant.size:
        return (
            _too_large(grant.size)
            if (received.size or 0) > grant.size
            else JsonResponse(
                {"code": "size_mismatch", "message": f"Expected exactly {grant.size} bytes."},
                status=400,
            )
        )
    try:
        upload_receive(grant=grant, content=received)
    except ServiceError as exc:
        return service_error(exc)
    except storage.StorageUnavailable:
        return json_error(503, "storage_unavailable", "Storage is unavailable; retry later.")
    return HttpResponse(status=204)


def _too_large(limit: int) -> JsonResponse:
    return json_error(413, "file_too_large", f"This upload accepts exactly {limit} bytes.")
