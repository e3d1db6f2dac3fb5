"""Django's Redis cache, cleared by its own keys only.

The throttling counts may share a Redis database with the Celery broker (``REDIS_URL``);
Django's ``RedisCache.clear()`` runs ``FLUSHDB``, which would drop every queued message.
This one deletes only the keys under its ``KEY_PREFIX``.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from django.core.cache.backends.redis import RedisCache

_BATCH = 500


class PrefixedRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        if not self.key_prefix:
            raise ValueError("PrefixedRedisCache needs a KEY_PREFIX")

    def clear(self) -> None:
        client = self._cache.get_client(write=True)  # type: ignore[attr-defined]  # RedisCache's client, not in the stubs
        keys = client.scan_iter(match=f"{self.key_prefix}:*", count=_BATCH)
        while batch := list(islice(keys, _BATCH)):
            client.delete(*batch)
