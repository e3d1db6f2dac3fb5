"""Webhook routes, mounted under ``/api/webhooks/``."""

from django.urls import path

from rawproc.webhooks import api

urlpatterns = [
    path("", api.WebhookListCreateApi.as_view(), name="webhook-list"),
    path("<uuid:webhook_id>/", api.WebhookDetailApi.as_view(), name="webhook-detail"),
    path(
        "<uuid:webhook_id>/deliveries/",
        api.WebhookDeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
]
