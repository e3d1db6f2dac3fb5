"""The shared cache's backends: Django's, with the two changes the throttling counts need.

``PrefixedRedisCache``: the counts may share a Redis database with the Celery broker
(``REDIS_URL``); Django's ``RedisCache.clear()`` runs ``FLUSHDB``, which would drop every
queued message. This one deletes only the keys under its ``KEY_PREFIX``. Redis increments
atomically already.

``DatabaseCache``: Django's reads a value, adds and writes it back, so two processes that
increment together both write the same count; and it resets the entry's expiry to the
default timeout. This one locks the entry's row for the read and the write and keeps the
expiry.
"""

from __future__ import annotations

import base64
import pickle
from itertools import islice
from typing import Any

from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.core.cache.backends.redis import RedisCache
from django.db import connections, router, transaction

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


class DatabaseCache(DjangoDatabaseCache):
    _table: str  # set by Django's __init__; not in the type stubs

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        table, cache_key, value = quote(self._table), quote("cache_key"), quote("value")
        stored_key = self.make_and_validate_key(key, version=version)
        with transaction.atomic(using=db), connection.cursor() as cursor:
            # A write first: it holds the row (PostgreSQL) or the database (SQLite) until
            # commit, so a concurrent increment waits here and then reads this one's count.
            cursor.execute(
                f"UPDATE {table} SET {cache_key} = {cache_key} WHERE {cache_key} = %s",
                [stored_key],
            )
            current = self.get(key, version=version)  # None when missing or expired
            if current is None:
                raise ValueError(f"Key '{stored_key}' not found")
            updated = current + delta
            # Stored as Django's DatabaseCache stores values; the expiry column is left alone.
            encoded = base64.b64encode(pickle.dumps(updated, self.pickle_protocol)).decode("latin1")
            cursor.execute(
                f"UPDATE {table} SET {value} = %s WHERE {cache_key} = %s", [encoded, stored_key]
            )
        return int(updated)
