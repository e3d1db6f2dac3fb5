"""Thin API views: validate input, call a service or selector, serialize the output."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.http import HttpResponseBase, HttpResponseRedirect
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rawproc import storage
from rawproc.api.conditional import assets_etag, not_modified, request_scope, with_validator
from rawproc.api.errors import MissingFile, error_body
from rawproc.api.negotiation import AnyAccept, negotiate_format
from rawproc.api.pagination import AssetPagination
from rawproc.api.parsers import JSONParser, MultiPartParser
from rawproc.api.serializers import (
    AssetListFilterSerializer,
    AssetListItemOutputSerializer,
    AssetOutputSerializer,
    AssetUploadInputSerializer,
    ErrorOutputSerializer,
    ExpiryInputSerializer,
    HealthOutputSerializer,
    RenditionListOutputSerializer,
    RenditionStatusOutputSerializer,
    UploadCreateInputSerializer,
    UploadCreateOutputSerializer,
    expiry_from,
    original_link,
    variant_link,
)
from rawproc.api.throttles import UploadRateThrottle
from rawproc.imaging import RenditionSpec
from rawproc.imaging.specs import key_name
from rawproc.models import Asset
from rawproc.selectors import asset_get, asset_list, rendition_jobs, variant_get
from rawproc.services.assets import asset_create, asset_delete, check_upload_size
from rawproc.services.processing import asset_reprocess
from rawproc.services.renditions import (
    RenditionState,
    rendition_spec,
    rendition_state,
    variant_get_or_create,
)
from rawproc.services.uploads import upload_complete, upload_create

logger = logging.getLogger(__name__)

# Multipart framing around the file (boundaries, part headers, other fields).
MULTIPART_OVERHEAD_BYTES = 64 * 1024

ERRORS = {
    code: OpenApiResponse(ErrorOutputSerializer, description=text)
    for code, text in {
        400: "Invalid request (code in body).",
        401: "Not authenticated.",
        404: "Not found, or not yours.",
        409: "Wrong state for this action.",
        410: "The upload no longer exists.",
        413: "File too large, or over the storage quota.",
        415: "Not a camera RAW file.",
        503: "Object storage unavailable.",
    }.items()
}
THROTTLED = {
    429: OpenApiResponse(ErrorOutputSerializer, description="Too many uploads; see Retry-After.")
}
EXPIRES_IN = OpenApiParameter(
    "expires_in", OpenApiTypes.INT, description="Lifetime of signed URLs in seconds (capped)."
)


class AuthenticatedRequest(Request):
    """The request of a view behind ``IsAuthenticated`` (the default permission)."""

    user: User


def asset_response(request: Request, asset: Asset, code: int) -> Response:
    context = {"request": request, "expires_in": expiry_from(request.query_params)}
    data = AssetOutputSerializer(asset, context=context).data
    headers = {"Location": data["url"]} if code in (201, 202) else None
    return Response(data, status=code, headers=headers)


NOT_MODIFIED = {304: OpenApiResponse(description="Unchanged since the ETag in If-None-Match.")}


class AssetListCreateApi(APIView):
    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [UploadRateThrottle]
    # Declared on the view so the schema describes the paginated envelope of the list.
    pagination_class = AssetPagination

    @extend_schema(
        parameters=[AssetListFilterSerializer, ExpiryInputSerializer],
        responses={200: AssetListItemOutputSerializer(many=True), **NOT_MODIFIED, **ERRORS},
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        filters = AssetListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        assets = asset_list(owner=request.user, filters=filters.validated_data)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(assets, request, view=self) or []
        expires_in = expiry_from(request.query_params)
        total = paginator.page.paginator.count if paginator.page is not None else len(page)
        etag = assets_etag(page, scope=request_scope(request, total), expires_in=expires_in)
        if not_modified(request, etag):
            return with_validator(Response(status=status.HTTP_304_NOT_MODIFIED), etag)
        context = {"request": request, "expires_in": expires_in}
        data = AssetListItemOutputSerializer(page, many=True, context=context).data
        return with_validator(paginator.get_paginated_response(data), etag)

    @extend_schema(
        request={"multipart/form-data": AssetUploadInputSerializer},
        responses={
            202: OpenApiResponse(AssetOutputSerializer, description="Stored and queued."),
            200: OpenApiResponse(AssetOutputSerializer, description="Same bytes already uploaded."),
            **ERRORS,
            **THROTTLED,
        },
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        # Refuse an oversized body from its declared length, before reading any of it.
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > settings.RAWPROC_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES:
            check_upload_size(declared - MULTIPART_OVERHEAD_BYTES)
        upload = request.FILES.get("file")
        if upload is None:
            raise MissingFile()
        asset, created = asset_create(owner=request.user, file=upload)
        return asset_response(request, asset, status.HTTP_202_ACCEPTED if created else 200)


class UploadCreateApi(APIView):
    parser_classes = [JSONParser]
    throttle_classes = [UploadRateThrottle]

    @extend_schema(
        request=UploadCreateInputSerializer,
        responses={201: UploadCreateOutputSerializer, **ERRORS, **THROTTLED},
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        body = UploadCreateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        asset, target = upload_create(owner=request.user, **body.validated_data)
        context = {"request": request, "expires_in": settings.RAWPROC_URL_EXPIRY_SECONDS}
        data = UploadCreateOutputSerializer(
            {
                "asset": asset,
                "upload": target,
                "complete_url": request.build_absolute_uri(
                    reverse("asset-complete", args=[asset.pk])
                ),
            },
            context=context,
        ).data
        return Response(
            data, status=status.HTTP_201_CREATED, headers={"Location": data["asset"]["url"]}
        )


class AssetDetailApi(APIView):
    @extend_schema(
        parameters=[EXPIRES_IN],
        responses={200: AssetOutputSerializer, **NOT_MODIFIED, **ERRORS},
    )
    def get(self, request: AuthenticatedRequest, asset_id: str) -> Response:
        asset = asset_get(owner=request.user, asset_id=asset_id)
        expires_in = expiry_from(request.query_params)
        etag = assets_etag([asset], scope=request_scope(request), expires_in=expires_in)
        if not_modified(request, etag):
            return with_validator(Response(status=status.HTTP_304_NOT_MODIFIED), etag)
        return with_validator(asset_response(request, asset, 200), etag)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: AuthenticatedRequest, asset_id: str) -> Response:
        asset_delete(asset=asset_get(owner=request.user, asset_id=asset_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AssetCompleteApi(APIView):
    @extend_schema(
        request=None,
        responses={
            202: OpenApiResponse(AssetOutputSerializer, description="Checked and queued."),
            200: OpenApiResponse(
                AssetOutputSerializer, description="Already completed, or duplicate."
            ),
            **ERRORS,
        },
    )
    def post(self, request: AuthenticatedRequest, asset_id: str) -> Response:
        asset, created = upload_complete(asset=asset_get(owner=request.user, asset_id=asset_id))
        return asset_response(request, asset, status.HTTP_202_ACCEPTED if created else 200)


class AssetReprocessApi(APIView):
    @extend_schema(request=None, responses={202: AssetOutputSerializer, **ERRORS})
    def post(self, request: AuthenticatedRequest, asset_id: str) -> Response:
        asset = asset_reprocess(asset=asset_get(owner=request.user, asset_id=asset_id))
        return asset_response(request, asset, status.HTTP_202_ACCEPTED)


def rendition_answer(
    request: Request, asset: Asset, spec: RenditionSpec, *, negotiated: bool
) -> HttpResponseBase:
    """``302`` to the variant of ``spec``, made on demand: ``202`` while it is being made,
    the job's error once it failed."""
    state = variant_get_or_create(asset=asset, spec=spec)
    response: HttpResponseBase
    if state.variant is not None:
        link = variant_link(state.variant, expiry_from(request.query_params))
        response = HttpResponseRedirect(request.build_absolute_uri(link.url))
    elif state.job is not None and state.status == "failed":
        job = state.job
        transient = job.error_code == "storage_unavailable"
        response = Response(
            error_body(
                "rendition_failed",
                f"The {spec.key} rendition could not be made: {job.error_message}",
                error={"code": job.error_code, "message": job.error_message},
            ),
            status=503 if transient else 422,
        )
    else:
        body = rendition_status_data(request, asset, state)
        response = Response(
            body,
            status=status.HTTP_202_ACCEPTED,
            headers={"Retry-After": str(state.retry_after), "Location": body["status_url"]},
        )
    if negotiated:
        patch_vary_headers(response, ("Accept",))
    return response


def rendition_status_data(request: Request, asset: Asset, state: RenditionState) -> dict[str, Any]:
    # An alias is asked for by its name (it may name another spec tomorrow), others by key.
    alias = state.spec.name != key_name(state.spec.key)
    spec = state.spec.name if alias else state.spec.key
    context = {
        "request": request,
        "expires_in": expiry_from(request.query_params),
        "rendition_path": reverse("asset-rendition", args=[asset.pk, spec]),
        "status_path": reverse("asset-rendition-status", args=[asset.pk, spec]),
    }
    return dict(RenditionStatusOutputSerializer(state, context=context).data)


def requested_spec(request: Request, text: str) -> tuple[RenditionSpec, bool]:
    """The spec a URL names, and whether its format came from ``Accept``."""
    allowed = settings.RAWPROC_RENDITION_FORMATS
    negotiate = text not in settings.RAWPROC_RENDITION_ALIASES and text.count(".") == 0
    fmt = negotiate_format(request.headers.get("Accept", ""), allowed) if negotiate else "jpeg"
    return rendition_spec(text, negotiated=fmt), negotiate


REDIRECT_OR_MADE = {
    302: OpenApiResponse(description="Redirect to a signed URL of the variant."),
    202: OpenApiResponse(
        RenditionStatusOutputSerializer,
        description="Being made: retry after Retry-After seconds; Location is the status URL.",
    ),
    422: OpenApiResponse(ErrorOutputSerializer, description="The rendition failed (code in body)."),
}


class AssetVariantRedirectApi(APIView):
    content_negotiation_class = AnyAccept

    @extend_schema(parameters=[EXPIRES_IN], responses={**REDIRECT_OR_MADE, **ERRORS})
    def get(self, request: AuthenticatedRequest, asset_id: str, name: str) -> HttpResponseBase:
        asset = asset_get(owner=request.user, asset_id=asset_id)
        alias = settings.RAWPROC_RENDITION_ALIASES.get(name)
        if alias is not None:
            return rendition_answer(request, asset, alias, negotiated=False)
        variant = variant_get(asset=asset, name=name)
        link = variant_link(variant, expiry_from(request.query_params))
        return HttpResponseRedirect(request.build_absolute_uri(link.url))


class AssetRenditionListApi(APIView):
    content_negotiation_class = AnyAccept

    @extend_schema(
        parameters=[EXPIRES_IN], responses={200: RenditionListOutputSerializer, **ERRORS}
    )
    def get(self, request: AuthenticatedRequest, asset_id: str) -> Response:
        asset = asset_get(owner=request.user, asset_id=asset_id)
        context = {"request": request, "expires_in": expiry_from(request.query_params)}
        data = RenditionListOutputSerializer(
            {"variants": asset.variants.all(), "jobs": rendition_jobs(asset=asset)},
            context=context,
        ).data
        return Response(data)


class AssetRenditionApi(APIView):
    content_negotiation_class = AnyAccept

    @extend_schema(
        operation_id="assets_renditions_get_or_create",
        parameters=[EXPIRES_IN],
        responses={**REDIRECT_OR_MADE, **ERRORS},
    )
    def get(self, request: AuthenticatedRequest, asset_id: str, spec: str) -> HttpResponseBase:
        asset = asset_get(owner=request.user, asset_id=asset_id)
        wanted, negotiated = requested_spec(request, spec)
        return rendition_answer(request, asset, wanted, negotiated=negotiated)


class AssetRenditionStatusApi(APIView):
    content_negotiation_class = AnyAccept

    @extend_schema(
        parameters=[EXPIRES_IN], responses={200: RenditionStatusOutputSerializer, **ERRORS}
    )
    def get(self, request: AuthenticatedRequest, asset_id: str, spec: str) -> Response:
        asset = asset_get(owner=request.user, asset_id=asset_id)
        wanted, negotiated = requested_spec(request, spec)
        response = Response(
            rendition_status_data(request, asset, rendition_state(asset=asset, spec=wanted))
        )
        if negotiated:
            patch_vary_headers(response, ("Accept",))
        return response


class AssetOriginalRedirectApi(APIView):
    @extend_schema(
        parameters=[EXPIRES_IN],
        responses={302: OpenApiResponse(description="Redirect to a signed URL."), **ERRORS},
    )
    def get(self, request: AuthenticatedRequest, asset_id: str) -> HttpResponseRedirect:
        asset = asset_get(owner=request.user, asset_id=asset_id)
        link = original_link(asset, expiry_from(request.query_params))
        return HttpResponseRedirect(request.build_absolute_uri(link.url))


def _check(probe: Any) -> dict[str, Any]:
    try:
        probe()
    except Exception as exc:  # a health check reports any failure instead of raising it
        logger.warning("health check %s failed: %s", getattr(probe, "__name__", probe), exc)
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True}


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _broker() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        # kombu sleeps a fraction of a second between retries as well, though its hint says int.
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=3)  # type: ignore[arg-type]


class HealthApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: HealthOutputSerializer, 503: HealthOutputSerializer})
    def get(self, request: Request) -> Response:
        checks = {
            "database": _check(_database),
            "broker": _check(_broker),
            "storage": _check(storage.check),
        }
        healthy = all(check["ok"] for check in checks.values())
        return Response(
            {"status": "ok" if healthy else "unavailable", "checks": checks},
            status=200 if healthy else status.HTTP_503_SERVICE_UNAVAILABLE,
        )
