"""Per-user upload throttling: one user cannot flood the queue or the bucket.

Multipart uploads and direct-upload requests share one budget, ``RAWPROC_UPLOAD_RATE``
(DRF rate syntax, e.g. ``120/min``); reads are never throttled. Counts live in the default
cache (Redis when configured, so every API process shares them).

The budget is a sliding window: the uploads of the current period (a minute for ``/min``,
counted from the clock's whole periods) plus the previous period's, weighted by how much of
it still lies within one period of now. Each upload takes its place with one atomic
increment, so concurrent uploads cannot pass together on a count none of them has written
yet (DRF's own throttle reads, compares and writes back, and lets simultaneous requests
through); a refused upload gives its place back. ``Retry-After`` is the time until the
window has room for one more.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import UserRateThrottle


def seconds_until_room(
    previous: int, current: int, limit: int, elapsed: float, period: float
) -> float:
    """How long until one more upload fits, ``elapsed`` (0 to 1) into the current period.

    ``previous`` and ``current`` are the uploads admitted in the previous and current
    periods; the previous ones count ``1 - elapsed`` of their number, and an upload fits
    while the weighted count stays under ``limit``.
    """
    if limit <= 0:
        return period
    if current < limit:
        # Room in this period once the previous period's share has fallen far enough.
        needed = 1 - (limit - current) / previous if previous else 0.0
        return max(needed - elapsed, 0.0) * period
    # Full: the next period, where this period's uploads weigh as the previous ones.
    return (1 - elapsed) * period + max(1 - limit / current, 0.0) * period


class UploadRateThrottle(UserRateThrottle):
    scope = "uploads"
    # Set by DRF's __init__ from the rate (not in its type stubs); read only when a rate is set.
    num_requests: int
    duration: int
    _wait = 0.0  # seconds until the window has room, set when an upload is refused

    def get_rate(self) -> str | None:
        # Read per request (DRF makes a throttle per request), not from DRF's import-time
        # copy of THROTTLE_RATES, so settings overrides apply.
        rate: str | None = settings.RAWPROC_UPLOAD_RATE
        return rate

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method != "POST" or self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        index, offset = divmod(self.timer(), self.duration)
        current_key = f"{self.key}:{int(index)}"
        place = self._take_place(current_key)
        previous = int(self.cache.get(f"{self.key}:{int(index) - 1}", 0))
        elapsed = offset / self.duration
        if place - 1 + previous * (1 - elapsed) < self.num_requests:
            return True
        self._give_back(current_key)
        # The uploads ahead of this one, less those still giving their places back.
        admitted = min(place - 1, self.num_requests)
        wait = seconds_until_room(previous, admitted, self.num_requests, elapsed, self.duration)
        # Never 0: DRF sends no Retry-After for 0.
        self._wait = max(wait, 0.001)
        return False

    def _take_place(self, key: str) -> int:
        """This upload's place among the period's uploads counted under ``key``, from 1."""
        # Kept through the next period, where it is the previous one, and a little longer:
        # the database cache stores expiry times in whole seconds.
        lifetime = 2 * self.duration + 2
        self.cache.add(key, 0, timeout=lifetime)
        try:
            return int(self.cache.incr(key))
        except ValueError:  # expired between the two calls (a count nobody reads any more)
            self.cache.add(key, 0, timeout=lifetime)
            return int(self.cache.incr(key))

    def _give_back(self, key: str) -> None:
        with contextlib.suppress(ValueError):  # already expired: nothing to give back to
            self.cache.decr(key)

    def wait(self) -> float:
        return self._wait
