"""API routes, mounted under ``/api/``."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from rawproc.api import docs, views
from rawproc.webhooks import api as webhooks

urlpatterns = [
    path("assets/", views.AssetListCreateApi.as_view(), name="asset-list"),
    path("assets/<uuid:asset_id>/", views.AssetDetailApi.as_view(), name="asset-detail"),
    path(
        "assets/<uuid:asset_id>/complete/",
        views.AssetCompleteApi.as_view(),
        name="asset-complete",
    ),
    path(
        "assets/<uuid:asset_id>/reprocess/",
        views.AssetReprocessApi.as_view(),
        name="asset-reprocess",
    ),
    path(
        "assets/<uuid:asset_id>/variants/<str:name>/",
        views.AssetVariantRedirectApi.as_view(),
        name="asset-variant",
    ),
    path(
        "assets/<uuid:asset_id>/renditions/",
        views.AssetRenditionListApi.as_view(),
        name="asset-renditions",
    ),
    path(
        "assets/<uuid:asset_id>/renditions/<str:spec>/",
        views.AssetRenditionApi.as_view(),
        name="asset-rendition",
    ),
    path(
        "assets/<uuid:asset_id>/renditions/<str:spec>/status/",
        views.AssetRenditionStatusApi.as_view(),
        name="asset-rendition-status",
    ),
    path(
        "assets/<uuid:asset_id>/original/",
        views.AssetOriginalRedirectApi.as_view(),
        name="asset-original",
    ),
    path("webhooks/", webhooks.WebhookListCreateApi.as_view(), name="webhook-list"),
    path("webhooks/<uuid:webhook_id>/", webhooks.WebhookDetailApi.as_view(), name="webhook-detail"),
    path(
        "webhooks/<uuid:webhook_id>/deliveries/",
        webhooks.WebhookDeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
    path("uploads/", views.UploadCreateApi.as_view(), name="upload-create"),
    path("health/", views.HealthApi.as_view(), name="health"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs.swagger_view(), name="docs"),
    path("redoc/", docs.redoc_view(), name="redoc"),
]
