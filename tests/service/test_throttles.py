"""The upload rate holds under concurrent uploads, on every cache the service runs on.

Sixteen threads upload for one user at the same instant (a barrier releases them), each
with its own database connection where the cache is the database: exactly the rate's
number pass and every other one is told how long to wait. DRF's stock throttle reads the
count, compares and writes back, so simultaneous requests could all pass on the same count.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, cast

import pytest
from django.core.cache import cache, caches
from django.core.management import call_command
from django.db import connection, connections
from rest_framework.request import Request

from rawproc.api.throttles import UploadRateThrottle, seconds_until_room

THREADS = 16

CACHES: dict[str, Callable[[str], dict[str, Any]]] = {
    "memory": lambda _redis: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "database": lambda _redis: {
        "BACKEND": "rawproc.cache.DatabaseCache",
        "LOCATION": "rawproc_cache_throttle_test",
    },
    "redis": lambda redis: {
        "BACKEND": "rawproc.cache.PrefixedRedisCache",
        "LOCATION": redis,
        "KEY_PREFIX": f"rawproc:throttle-test-{secrets.token_hex(4)}",
    },
}


@pytest.fixture(params=sorted(CACHES))
def shared_cache(
    request: pytest.FixtureRequest, settings: Any, transactional_db: None
) -> Iterator[str]:
    """The default cache switched to one backend, empty (the database's in its own table)."""
    redis = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    settings.CACHES = {"default": CACHES[request.param](redis)}
    if request.param == "database":
        call_command("createcachetable", verbosity=0)
    cache.clear()
    yield request.param
    cache.clear()


def _upload_request(user_id: int) -> Request:
    user = SimpleNamespace(pk=user_id, is_authenticated=True)
    return cast(Request, SimpleNamespace(method="POST", user=user))


def _upload(user_id: int) -> tuple[bool, float]:
    throttle = UploadRateThrottle()
    allowed = throttle.allow_request(_upload_request(user_id), view=None)
    return allowed, throttle.wait()


def _together(user_id: int) -> list[tuple[bool, float]]:
    """``THREADS`` uploads released at once, each thread on its own database connection."""
    barrier = threading.Barrier(THREADS)

    def one() -> tuple[bool, float]:
        try:
            barrier.wait()
            return _upload(user_id)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(lambda _: one(), range(THREADS)))


def test_concurrent_uploads_pass_exactly_the_rate(shared_cache: str, settings: Any) -> None:
    settings.RAWPROC_UPLOAD_RATE = "5/min"
    answers = _together(user_id=7)
    assert sum(allowed for allowed, _ in answers) == 5
    # Every refused upload learns when to come back: never 0, and within two periods (the
    # uploads of this one weigh into the next).
    assert all(0 < wait <= 120 for allowed, wait in answers if not allowed)
    # Another user has a budget of their own.
    assert _upload(user_id=8)[0]


def test_a_refused_upload_passes_after_retry_after(shared_cache: str, settings: Any) -> None:
    settings.RAWPROC_UPLOAD_RATE = "3/s"
    assert [_upload(9)[0] for _ in range(4)] == [True, True, True, False]
    for _ in range(3):
        allowed, wait = _upload(9)
        if not allowed:
            time.sleep(wait)
            assert _upload(9)[0]


def test_the_whole_budget_returns_after_two_quiet_periods(shared_cache: str, settings: Any) -> None:
    settings.RAWPROC_UPLOAD_RATE = "2/s"
    assert [_upload(9)[0] for _ in range(3)] == [True, True, False]
    time.sleep(2.05)
    # Refused uploads gave their places back, so they do not lengthen the wait.
    assert [_upload(9)[0] for _ in range(3)] == [True, True, False]


@pytest.mark.parametrize(
    ("previous", "current", "limit", "elapsed"),
    [
        (0, 5, 5, 0.3),
        (5, 0, 5, 0.0),
        (5, 3, 5, 0.3),
        (10, 0, 5, 0.1),
        (3, 10, 5, 0.1),
        (1, 1, 1, 0.5),
    ],
)
def test_retry_after_is_the_first_moment_with_room(
    previous: int, current: int, limit: int, elapsed: float
) -> None:
    """Just after the moment Retry-After names, the weighted count has room; half a second
    before it, none."""
    period = 60.0

    def weighted(seconds: float) -> float:
        at = elapsed + seconds / period
        if at < 1:
            return previous * (1 - at) + current
        return current * (1 - (at - 1))  # the next period: this one's uploads weigh

    wait = seconds_until_room(previous, current, limit, elapsed, period)
    assert weighted(wait + 0.001) < limit
    assert wait < 0.5 or weighted(wait - 0.5) >= limit


def test_no_rate_passes_every_upload(settings: Any) -> None:
    settings.RAWPROC_UPLOAD_RATE = None
    assert all(_upload(10)[0] for _ in range(50))


@pytest.mark.django_db(transaction=True)
def test_the_database_cache_keeps_an_entrys_expiry_when_it_counts(settings: Any) -> None:
    settings.CACHES = {
        "default": {"BACKEND": "rawproc.cache.DatabaseCache", "LOCATION": "rawproc_cache_expiry"}
    }
    call_command("createcachetable", verbosity=0)
    counts = caches["default"]
    counts.clear()
    counts.set("uploads", 1, timeout=3600)

    def expiry() -> object:
        with connection.cursor() as cursor:
            cursor.execute("SELECT expires FROM rawproc_cache_expiry")
            return cursor.fetchone()

    before = expiry()
    assert counts.incr("uploads", 4) == 5
    assert counts.decr("uploads") == 4
    assert (counts.get("uploads"), expiry()) == (4, before)
    with pytest.raises(ValueError):
        counts.incr("missing")
    counts.set("gone", 1, timeout=1)
    time.sleep(1.1)
    with pytest.raises(ValueError):
        counts.incr("gone")
