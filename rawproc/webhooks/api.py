"""Thin API views for webhooks, with their input and output serializers."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from rawproc.api.pagination import AssetPagination
from rawproc.api.parsers import JSONParser
from rawproc.api.serializers import ErrorOutputSerializer
from rawproc.api.views import AuthenticatedRequest
from rawproc.webhooks.models import EventType
from rawproc.webhooks.selectors import webhook_delivery_list, webhook_get, webhook_list
from rawproc.webhooks.services import webhook_create, webhook_delete

ERRORS = {
    code: OpenApiResponse(ErrorOutputSerializer, description=text)
    for code, text in {
        400: "Invalid request, or a URL refused (code in body).",
        401: "Not authenticated.",
        404: "Not found, or not yours.",
    }.items()
}


class WebhookCreateInputSerializer(serializers.Serializer[Any]):
    url = serializers.CharField(max_length=2000, help_text="http(s) URL the events are POSTed to.")
    events = serializers.MultipleChoiceField(
        choices=EventType.choices,
        required=False,
        default=set(EventType.values),
        allow_empty=False,
        help_text="Event types to send; all of them when left out.",
    )


class WebhookOutputSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()


class WebhookCreatedOutputSerializer(WebhookOutputSerializer):
    secret = serializers.CharField(
        help_text="The whsec_ signing secret; shown in this answer only, never again."
    )


class WebhookDeliveryOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    event_id = serializers.CharField(source="message.event_id", help_text="The webhook-id.")
    event_type = serializers.CharField(source="message.event_type")
    attempt = serializers.IntegerField()
    attempted_at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    succeeded = serializers.BooleanField()
    error = serializers.CharField()
    response_body = serializers.CharField(help_text="The start of the receiver's answer.")
    duration_ms = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    message_status = serializers.CharField(
        source="message.status", help_text="pending, delivered or failed (gave up)."
    )


class WebhookListCreateApi(APIView):
    parser_classes = [JSONParser]
    pagination_class = AssetPagination

    @extend_schema(responses={200: WebhookOutputSerializer(many=True), **ERRORS})
    def get(self, request: AuthenticatedRequest) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(webhook_list(owner=request.user), request, view=self)
        return paginator.get_paginated_response(WebhookOutputSerializer(page, many=True).data)

    @extend_schema(
        request=WebhookCreateInputSerializer,
        responses={201: WebhookCreatedOutputSerializer, **ERRORS},
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        body = WebhookCreateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        webhook = webhook_create(owner=request.user, **body.validated_data)
        return Response(
            WebhookCreatedOutputSerializer(webhook).data, status=status.HTTP_201_CREATED
        )


class WebhookDetailApi(APIView):
    @extend_schema(responses={200: WebhookOutputSerializer, **ERRORS})
    def get(self, request: AuthenticatedRequest, webhook_id: str) -> Response:
        webhook = webhook_get(owner=request.user, webhook_id=webhook_id)
        return Response(WebhookOutputSerializer(webhook).data)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: AuthenticatedRequest, webhook_id: str) -> Response:
        webhook_delete(webhook=webhook_get(owner=request.user, webhook_id=webhook_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListApi(APIView):
    pagination_class = AssetPagination

    @extend_schema(responses={200: WebhookDeliveryOutputSerializer(many=True), **ERRORS})
    def get(self, request: AuthenticatedRequest, webhook_id: str) -> Response:
        webhook = webhook_get(owner=request.user, webhook_id=webhook_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            webhook_delivery_list(webhook=webhook), request, view=self
        )
        return paginator.get_paginated_response(
            WebhookDeliveryOutputSerializer(page, many=True).data
        )
