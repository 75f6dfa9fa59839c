"""Each API key's rate limit and daily quota, counted in Redis (issue 11).

- **Rate**: ``rate_per_min`` calls in any 60 seconds (``--rate-per-min 5``: five calls pass,
  the sixth within the same minute is refused). The moving-window limiter of ``limits``
  (MIT; one atomic Lua script per call, so any number of processes sharing one Redis count
  together, and two calls can never both take the last place).
- **Daily quota**: ``daily_quota`` calls per UTC day, one atomic INCR+EXPIRE (``limits``'
  storage) on a counter whose key names the day. ``limits``' own fixed window starts at the
  first call, not at midnight, which would make "today" different for every key; the counters
  are kept eight days for ``wattlas keys usage``.

A refused call is a 429 with ``Retry-After`` and the IETF ``RateLimit`` / ``RateLimit-Policy``
fields (draft-ietf-httpapi-ratelimit-headers); every allowed call carries the same fields.

Redis down: counters are derived state (architecture.md), so calls are **not refused for want
of Redis**: keys are still checked (PostgreSQL), limits are not enforced, no ``RateLimit``
fields are sent, and one log line says so. After a failure Redis is not asked again for
``RETRY_AFTER_FAILURE_S``, so an outage costs drivers no time-outs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from app.logs import get_logger
from app.store.api_keys import ApiKey

log = get_logger(__name__)

DAY_S = 86_400
USAGE_DAYS = 8  # how long the daily counters are kept
RETRY_AFTER_FAILURE_S = 5.0
KEY_PREFIX = "wattlas:quota"

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    headers: Headers  # RateLimit-Policy, RateLimit (and Retry-After when refused)
    refused_by: str | None = None  # "minute" | "day"
    retry_after_s: int = 0


@dataclass(frozen=True)
class DayUsage:
    date: str  # YYYY-MM-DD (UTC)
    calls: int  # allowed calls
    refused: int  # 429s


@dataclass(frozen=True)
class Usage:
    last_minute: int
    days: list[DayUsage]  # newest first


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def _seconds_to_midnight(at: float) -> int:
    moment = datetime.fromtimestamp(at, UTC)
    midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - moment).total_seconds() + 0.999))


def policy_field(key: ApiKey) -> bytes:
    return f'"minute";q={key.rate_per_min};w=60, "day";q={key.daily_quota};w={DAY_S}'.encode()


def limit_field(minute_left: int, minute_reset_s: int, day_left: int, day_reset_s: int) -> bytes:
    return (
        f'"minute";r={max(0, minute_left)};t={max(0, minute_reset_s)}, '
        f'"day";r={max(0, day_left)};t={max(0, day_reset_s)}'
    ).encode()


class Quotas:
    def __init__(self, redis: aioredis.Redis | None) -> None:
        self._storage: RedisStorage | None = None
        if redis is not None:
            # limits uses the process's own Redis pool (short time-outs, bounded size).
            self._storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                # limits types its pass-through options as scalars; redis-py takes a pool here.
                connection_pool=redis.connection_pool,  # type: ignore[arg-type]
                wrap_exceptions=True,
                key_prefix=KEY_PREFIX,
            )
            self._minute = MovingWindowRateLimiter(self._storage)
        self._skip_until = 0.0
        self._down_logged = False

    @property
    def available(self) -> bool:
        return self._storage is not None and time.monotonic() >= self._skip_until

    def _failed(self, exc: BaseException) -> None:
        self._skip_until = time.monotonic() + RETRY_AFTER_FAILURE_S
        if not self._down_logged:
            self._down_logged = True
            log.error("access.quota_unavailable", error=f"{type(exc).__name__}: {exc}")

    def _recovered(self) -> None:
        if self._down_logged:
            self._down_logged = False
            log.info("access.quota_recovered")

    async def spend(self, key: ApiKey) -> Verdict | None:
        """Count one call of ``key``; None when Redis cannot count it (not enforced)."""
        if not self.available:
            return None
        assert self._storage is not None
        rate = RateLimitItemPerMinute(key.rate_per_min)
        ident = str(key.id)
        now = time.time()
        try:
            allowed = await self._minute.hit(rate, ident)
            stats = await self._minute.get_window_stats(rate, ident)
            day = _day(now)
            if allowed:
                calls = await self._storage.incr(f"calls/{ident}/{day}", USAGE_DAYS * DAY_S)
            else:
                calls = await self._storage.get(f"calls/{ident}/{day}")
        except (StorageError, OSError) as exc:
            self._failed(exc)
            return None
        self._recovered()
        minute_reset_s = max(1, int(stats.reset_time - now + 0.999))
        day_reset_s = _seconds_to_midnight(now)
        fields: Headers = [
            (b"ratelimit-policy", policy_field(key)),
            (
                b"ratelimit",
                limit_field(stats.remaining, minute_reset_s, key.daily_quota - calls, day_reset_s),
            ),
        ]
        refused_by = None if allowed else "minute"
        retry_after_s = minute_reset_s
        if allowed and calls > key.daily_quota:
            refused_by, retry_after_s = "day", day_reset_s
        if refused_by is None:
            return Verdict(True, fields)
        await self._count_refusal(ident, day)
        return Verdict(
            False,
            [*fields, (b"retry-after", str(retry_after_s).encode())],
            refused_by,
            retry_after_s,
        )

    async def _count_refusal(self, ident: str, day: str) -> None:
        assert self._storage is not None
        try:
            await self._storage.incr(f"refused/{ident}/{day}", USAGE_DAYS * DAY_S)
        except (StorageError, OSError) as exc:
            self._failed(exc)

    async def usage(self, key: ApiKey, days: int = 7) -> Usage:
        """Calls in the last minute and per UTC day (raises ``StorageError`` without Redis)."""
        if self._storage is None:
            raise StorageError(ConnectionError("no Redis configured (WATTLAS_REDIS_URL)"))
        rate = RateLimitItemPerMinute(key.rate_per_min)
        ident = str(key.id)
        stats = await self._minute.get_window_stats(rate, ident)
        now = time.time()
        out = []
        for back in range(days):
            day = _day(now - back * DAY_S)
            calls = await self._storage.get(f"calls/{ident}/{day}")
            refused = await self._storage.get(f"refused/{ident}/{day}")
            out.append(DayUsage(day, min(calls, key.daily_quota), refused))
        return Usage(key.rate_per_min - stats.remaining, out)
