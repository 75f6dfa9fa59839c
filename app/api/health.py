"""``GET /health``: 200 when the database, Redis and the schema are as they should be; 503
naming the broken dependency otherwise. Never raises: a dead dependency is an answer."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Request, get
from litestar.response import Response

from app.runtime import Runtime

DEPENDENCY_TIMEOUT_S = 2.0


class DependencyHealth(msgspec.Struct, omit_defaults=True):
    ok: bool
    error: str | None = None
    latency_ms: float | None = None


class SchemaHealth(msgspec.Struct, omit_defaults=True):
    ok: bool
    revision: str | None = None
    expected: str | None = None
    error: str | None = None


class HealthReport(msgspec.Struct):
    status: str  # ok | degraded
    database: DependencyHealth
    redis: DependencyHealth
    schema: SchemaHealth


async def check_database(runtime: Runtime) -> tuple[DependencyHealth, SchemaHealth]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout(DEPENDENCY_TIMEOUT_S):
            async with runtime.pool.connection(timeout=DEPENDENCY_TIMEOUT_S) as conn:
                cur = await conn.execute(
                    "SELECT version_num FROM alembic_version"
                    " WHERE to_regclass('alembic_version') IS NOT NULL"
                )
                row = await cur.fetchone()
    except TimeoutError:
        error = f"no connection to {_where(runtime)} within {DEPENDENCY_TIMEOUT_S:g} s"
        return DependencyHealth(False, error=error), SchemaHealth(
            False, error="database unreachable"
        )
    except Exception as exc:  # noqa: BLE001 - any failure is the report
        error = f"{type(exc).__name__}: {exc}".strip()
        return DependencyHealth(False, error=error), SchemaHealth(
            False, error="database unreachable"
        )
    latency = round((loop.time() - started) * 1000, 2)
    revision = row[0] if row else None
    expected = runtime.schema_head
    if revision is None:
        schema = SchemaHealth(False, expected=expected, error="no schema: run `wattlas migrate`")
    elif expected is not None and revision != expected:
        schema = SchemaHealth(
            False,
            revision=revision,
            expected=expected,
            error="schema is not at the code's revision: run `wattlas migrate`",
        )
    else:
        schema = SchemaHealth(True, revision=revision, expected=expected)
    return DependencyHealth(True, latency_ms=latency), schema


def _where(runtime: Runtime) -> str:
    """host:port/db of the database URL, without credentials."""
    url = runtime.settings.database_url or ""
    return url.rsplit("@", 1)[-1].split("://", 1)[-1].split("?", 1)[0]


async def check_redis(runtime: Runtime) -> DependencyHealth:
    if runtime.redis is None:
        return DependencyHealth(False, error="not configured (WATTLAS_REDIS_URL)")
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout(DEPENDENCY_TIMEOUT_S):
            await runtime.redis.ping()
    except Exception as exc:  # noqa: BLE001 - any failure is the report
        return DependencyHealth(False, error=f"{type(exc).__name__}: {exc}")
    return DependencyHealth(True, latency_ms=round((loop.time() - started) * 1000, 2))


@get("/health", summary="Service health", tags=["service"])
async def health(request: Request[Any, Any, Any]) -> Response[HealthReport]:
    """Database, Redis and schema revision; 503 naming what is broken."""
    runtime: Runtime = request.app.state.runtime
    (database, schema), redis = await asyncio.gather(check_database(runtime), check_redis(runtime))
    ok = database.ok and redis.ok and schema.ok
    report = HealthReport("ok" if ok else "degraded", database, redis, schema)
    return Response(report, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})


@get("/v1/ping", summary="Liveness: answers without touching anything", tags=["service"])
async def ping() -> Response[bytes]:
    """The cheapest possible answer (benchmarks use it as the floor of the HTTP stack)."""
    return Response(b'{"ok":true}', media_type="application/json")
