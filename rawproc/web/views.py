"""Server-rendered page shells; the data comes from the JSON API through the page scripts.

The pages use the API exactly as any other client does (with the session cookie instead of
a token), so there is one implementation of uploads, filters and signed links. The views
only check access and hand the scripts their configuration: URLs, the CSRF token and the
upload size limit.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse, reverse_lazy

from rawproc.models import AssetStatus
from rawproc.selectors import DEFAULT_ORDERING, ORDERINGS, asset_field_values, asset_get

# Any valid UUID: reversed into a URL, then swapped for the placeholder the scripts fill in.
_SAMPLE_ID = uuid.UUID(int=0)
_FILTERS = (
    "q",
    "status",
    "camera_model",
    "lens_model",
    "iso_min",
    "iso_max",
    "taken_after",
    "taken_before",
)
ORDERING_LABELS = {
    "-created_at": "Newest uploads",
    "created_at": "Oldest uploads",
    "-taken_at": "Newest shots",
    "taken_at": "Oldest shots",
    "-iso": "Highest ISO",
    "iso": "Lowest ISO",
    "-size": "Largest files",
    "size": "Smallest files",
    "original_filename": "Name A to Z",
    "-original_filename": "Name Z to A",
}
POLL_MS = 2500
# While nothing is on its way: a conditional GET (304 when nothing changed) now and then,
# for photos uploaded from elsewhere.
IDLE_POLL_MS = 30_000
UPLOAD_CONCURRENCY = 3

signed_in = login_required(login_url=reverse_lazy("web:login"))


class SignedInRequest(HttpRequest):
    """The request of a view behind ``signed_in``."""

    user: User


def _url_template(url_name: str, *params: str) -> str:
    """A URL with ``__id__`` (and ``__<param>__``) placeholders that the scripts fill in."""
    kwargs: dict[str, Any] = {"asset_id": _SAMPLE_ID, **{key: f"__{key}__" for key in params}}
    return reverse(url_name, kwargs=kwargs).replace(str(_SAMPLE_ID), "__id__")


def _page_config(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "csrfToken": get_token(request),
        "loginUrl": reverse("web:login"),
        "galleryUrl": reverse("web:gallery"),
        "assetPage": _url_template("web:asset"),
        "api": {
            "uploads": reverse("upload-create"),
            "assets": reverse("asset-list"),
            "asset": _url_template("asset-detail"),
            "reprocess": _url_template("asset-reprocess"),
            "variant": _url_template("asset-variant", "name"),
            "original": _url_template("asset-original"),
            # On-demand renditions (``640.webp``, ``full.jpeg``...); the pages fall back to
            # the stored variants where the server answers 404.
            "rendition": _url_template("asset-detail") + "renditions/__spec__/",
        },
        "pollMs": POLL_MS,
        "idlePollMs": IDLE_POLL_MS,
        **extra,
    }


@signed_in
def gallery(request: SignedInRequest) -> HttpResponse:
    context = {
        "page_config": _page_config(
            request,
            maxUploadBytes=settings.RAWPROC_MAX_UPLOAD_BYTES,
            uploadConcurrency=UPLOAD_CONCURRENCY,
            pageSize=settings.REST_FRAMEWORK["PAGE_SIZE"],
        ),
        "max_upload_bytes": settings.RAWPROC_MAX_UPLOAD_BYTES,
        "statuses": AssetStatus.choices,
        "orderings": [(value, ORDERING_LABELS.get(value, value)) for value in ORDERINGS],
        # What the Sort box shows is what the grid is sorted by, the default included.
        "ordering": request.GET.get("ordering") or DEFAULT_ORDERING,
        "cameras": asset_field_values(owner=request.user, field="camera_model"),
        "lenses": asset_field_values(owner=request.user, field="lens_model"),
        "filters_active": any(request.GET.get(name, "").strip() for name in _FILTERS),
    }
    return render(request, "rawproc/gallery.html", context)


@signed_in
def asset(request: SignedInRequest, asset_id: uuid.UUID) -> HttpResponse:
    try:
        found = asset_get(owner=request.user, asset_id=asset_id)
    except Http404:
        # Rendered here: the project's 404 handler answers JSON, which suits the API only.
        return render(request, "rawproc/not_found.html", status=404)
    context = {"asset": found, "page_config": _page_config(request, assetId=str(found.pk))}
    return render(request, "rawproc/asset.html", context)


login = auth_views.LoginView.as_view(
    template_name="rawproc/login.html",
    redirect_authenticated_user=True,
    next_page=reverse_lazy("web:gallery"),
)
logout = auth_views.LogoutView.as_view(next_page=reverse_lazy("web:login"))
