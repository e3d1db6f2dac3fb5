"""The API's interactive docs: Swagger UI and Redoc, served from the app's own static files.

Both come from drf-spectacular-sidecar (no CDN, so they work offline) and run under the
site's Content-Security-Policy: Swagger UI's start-up script is a separate URL (the
"split" view), the page templates carry no inline script or style. Redoc generates its
styles at run time, so its page alone allows inline styles (never inline script).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView


def swagger_view() -> Callable[..., Any]:
    view: Callable[..., Any] = SpectacularSwaggerSplitView.as_view(
        url_name="schema", template_name="rawproc/docs/swagger_ui.html"
    )
    return view


def redoc_view() -> Callable[..., Any]:
    view = SpectacularRedocView.as_view(url_name="schema", template_name="rawproc/docs/redoc.html")
    generated_styles: Callable[..., Any] = csp_update({"style-src": [SELF, UNSAFE_INLINE]})(view)
    return generated_styles
