"""Each API key's rate limit and daily quota, counted in Redis (issue 11).

- **Rate**: ``rate_per_min`` calls in any 60 seconds (``--rate-per-min 5``: five calls pass,
  the sixth within the same minute is refused): a moving window, the times of the key's calls
  of the last 60 s in a sorted set.
- **Daily quota**: ``daily_quota`` allowed calls per UTC day, on a counter whose key names the
  day (kept eight days for ``wattlas keys usage``); refusals are counted beside it.

Both are decided by one Lua script, atomically, in **one round trip** per call, so any number
of processes sharing one Redis count together and two calls can never both take the last
place. Why not a library: ``limits`` (MIT) was used first, but its API decides the window, then
reads the window's state for the ``RateLimit`` fields, then the day counter needs its own call
(``limits``' fixed windows start at a key's first call, not at midnight): three round trips,
which cost 11 % of nearby's throughput, over the budget of 10 % (devtools/bench
``api_key_cost_percent``). The algorithm itself is six Redis commands.

A call refused by the minute or the day takes no place in either. A refused call is a 429 with
``Retry-After`` and the IETF ``RateLimit`` / ``RateLimit-Policy`` fields
(draft-ietf-httpapi-ratelimit-headers); every allowed call carries the same fields.

Redis down: counters are derived state (architecture.md), so calls are **not refused for want
of Redis**: keys are still checked (PostgreSQL), limits are not enforced, no ``RateLimit``
fields are sent, and one log line says so. After a failure Redis is not asked again for
``RETRY_AFTER_FAILURE_S``, so an outage costs drivers no time-outs.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.logs import get_logger
from app.store.api_keys import ApiKey

log = get_logger(__name__)

DAY_S = 86_400
WINDOW_S = 60
USAGE_DAYS = 8  # how long the daily counters are kept
RETRY_AFTER_FAILURE_S = 5.0
KEY_PREFIX = "wattlas:quota"

Headers = list[tuple[bytes, bytes]]

# KEYS: the minute window (sorted set: one member per call, scored by its time), today's
# allowed calls, today's refusals. ARGV: now (s), calls per window, daily quota, a member
# unique to this call. Returns {verdict (0 allowed, 1 refused by the minute, 2 by the day),
# calls in the window, calls today, the oldest call in the window (its time; false if none)}.
# (As few arguments as possible: each costs the client time to encode, on every call.)
SPEND_LUA = f"""
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - {WINDOW_S})
local in_window = redis.call('ZCARD', KEYS[1])
local today = tonumber(redis.call('GET', KEYS[2]) or '0')
local verdict = 0
if in_window >= tonumber(ARGV[2]) then
  verdict = 1
elseif today >= tonumber(ARGV[3]) then
  verdict = 2
else
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('EXPIRE', KEYS[1], {WINDOW_S})
  in_window = in_window + 1
  today = redis.call('INCR', KEYS[2])
  if today == 1 then redis.call('EXPIRE', KEYS[2], {USAGE_DAYS * DAY_S}) end
end
if verdict > 0 and redis.call('INCR', KEYS[3]) == 1 then
  redis.call('EXPIRE', KEYS[3], {USAGE_DAYS * DAY_S})
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {{verdict, in_window, today, oldest[2] or false}}
"""


class QuotaUnavailable(Exception):
    """Redis does not answer (or none is configured): usage cannot be read."""


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


def _keys(key_id: int, day: str) -> list[str]:
    return [
        f"{KEY_PREFIX}:minute/{key_id}",
        f"{KEY_PREFIX}:calls/{key_id}/{day}",
        f"{KEY_PREFIX}:refused/{key_id}/{day}",
    ]


def policy_field(key: ApiKey) -> bytes:
    return f'"minute";q={key.rate_per_min};w=60, "day";q={key.daily_quota};w={DAY_S}'.encode()


def limit_field(minute_left: int, minute_reset_s: int, day_left: int, day_reset_s: int) -> bytes:
    return (
        f'"minute";r={max(0, minute_left)};t={max(0, minute_reset_s)}, '
        f'"day";r={max(0, day_left)};t={max(0, day_reset_s)}'
    ).encode()


class Quotas:
    def __init__(self, redis: aioredis.Redis | None) -> None:
        # The process's own Redis client (short time-outs, bounded pool).
        self._redis = redis
        self._spend = redis.register_script(SPEND_LUA) if redis is not None else None
        self._members = itertools.count()
        self._member_prefix = f"{os.getpid()}-{time.time_ns()}-"
        self._skip_until = 0.0
        self._down_logged = False

    @property
    def available(self) -> bool:
        return self._spend is not None and time.monotonic() >= self._skip_until

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
        assert self._spend is not None
        now = time.time()
        member = f"{self._member_prefix}{next(self._members)}"
        try:
            answer: list[Any] = await self._spend(
                keys=_keys(key.id, _day(now)), args=[now, key.rate_per_min, key.daily_quota, member]
            )
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return None
        self._recovered()
        verdict, in_window, today, oldest = answer
        oldest_s = float(oldest) if oldest else now
        minute_reset_s = max(1, int(oldest_s + WINDOW_S - now + 0.999))
        day_reset_s = _seconds_to_midnight(now)
        fields: Headers = [
            (b"ratelimit-policy", policy_field(key)),
            (
                b"ratelimit",
                limit_field(
                    key.rate_per_min - in_window,
                    minute_reset_s,
                    key.daily_quota - today,
                    day_reset_s,
                ),
            ),
        ]
        if verdict == 0:
            return Verdict(True, fields)
        refused_by, retry_after_s = (
            ("minute", minute_reset_s) if verdict == 1 else ("day", day_reset_s)
        )
        return Verdict(
            False,
            [*fields, (b"retry-after", str(retry_after_s).encode())],
            refused_by,
            retry_after_s,
        )

    async def usage(self, key: ApiKey, days: int = 7) -> Usage:
        """Calls in the last minute and per UTC day (raises ``QuotaUnavailable`` without Redis)."""
        if self._redis is None:
            raise QuotaUnavailable("no Redis configured (WATTLAS_REDIS_URL)")
        now = time.time()
        dates = [_day(now - back * DAY_S) for back in range(days)]
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zcount(_keys(key.id, dates[0])[0], now - WINDOW_S, "+inf")
                for date in dates:
                    pipe.mget(_keys(key.id, date)[1:])
                last_minute, *counts = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise QuotaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        out = [
            DayUsage(date, int(calls or 0), int(refused or 0))
            for date, (calls, refused) in zip(dates, counts, strict=True)
        ]
        return Usage(int(last_minute), out)
