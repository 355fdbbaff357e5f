"""The shared cache's counter (lms.cache.ResilientRedisCache.count), which the
verification rate limits use: one round trip, created with its time to live, and
failing open while Redis is unreachable. On the suite's own Redis."""

import socket
import uuid

import pytest
from django.conf import settings

from lms.cache import ResilientRedisCache

pytestmark = pytest.mark.engine_free


def _cache(location: str) -> ResilientRedisCache:
    return ResilientRedisCache(
        location,
        {
            "KEY_PREFIX": f"test-count-{uuid.uuid4().hex}",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        },
    )


def test_count_starts_at_one_counts_up_and_expires():
    cache = _cache(settings.REDIS_URL)
    assert [cache.count("window", 60) for _ in range(3)] == [1, 2, 3]
    assert cache.count("another", 60) == 1
    key = cache.make_and_validate_key("window")
    ttl = cache._cache.get_client(key).ttl(key)
    assert 0 < ttl <= 60
    # The counter is the cache's own value too, as incr leaves it.
    assert cache.get("window") == 3
    cache.delete_many(["window", "another"])


def test_count_fails_open_while_redis_is_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cache = _cache(f"redis://127.0.0.1:{port}/0")
    assert [cache.count("window", 60) for _ in range(3)] == [1, 1, 1]
