"""Per-key rate limit: a fixed window of CUSTAPI_RATE_WINDOW seconds allowing
CUSTAPI_RATE_LIMIT calls, counted in Redis when the app has one (several web processes share
it), else in this process. ``hit`` answers None (go on) or the seconds to wait (Retry-After).
"""
from __future__ import annotations

import threading
import time

from flask import current_app

_local: dict[tuple[int, int], int] = {}
_lock = threading.Lock()


def limits() -> tuple[int, int]:
    config = current_app.config
    return int(config.get("CUSTAPI_RATE_LIMIT", 120)), int(config.get("CUSTAPI_RATE_WINDOW", 60))


def hit(key_id: int, now: float | None = None) -> int | None:
    allowed, window = limits()
    now = time.time() if now is None else now
    slot = int(now // window)
    retry_after = max(1, int((slot + 1) * window - now))
    count = _count_in_redis(key_id, slot, window)
    if count is None:
        with _lock:
            if len(_local) > 10000:
                _local.clear()
            count = _local[(key_id, slot)] = _local.get((key_id, slot), 0) + 1
    return retry_after if count > allowed else None


def _count_in_redis(key_id: int, slot: int, window: int) -> int | None:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    try:
        from app.jobs import redis_connection

        redis = current_app.extensions.get("custapi_redis")
        if redis is None:
            redis = current_app.extensions["custapi_redis"] = redis_connection()
        name = f"creditdesk:custapi:rate:{key_id}:{slot}"
        pipe = redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, window + 5)
        return int(pipe.execute()[0])
    except Exception:  # noqa: BLE001  (Redis down: count in this process rather than refuse)
        return None
