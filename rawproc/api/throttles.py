"""Per-user upload throttling: one user cannot flood the queue or the bucket.

Multipart uploads and direct-upload requests share one budget, ``RAWPROC_UPLOAD_RATE``
(DRF rate syntax, e.g. ``120/min``); reads are never throttled. Counts live in the default
cache (Redis when configured, so every API process shares them).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import UserRateThrottle


class UploadRateThrottle(UserRateThrottle):
    scope = "uploads"

    def get_rate(self) -> str | None:
        # Read per request (DRF makes a throttle per request), not from DRF's import-time
        # copy of THROTTLE_RATES, so settings overrides apply.
        rate: str | None = settings.RAWPROC_UPLOAD_RATE
        return rate

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method != "POST":
            return True
        return bool(super().allow_request(request, view))
