"""``GET /health``: 200 when the database, Redis and the schema are as they should be; 503
naming the broken dependency otherwise (for monitoring). ``GET /health/ready``: whether this
process can serve (for load balancers): 503 only when the database or the schema is not right;
Redis down is reported but ready, since queries and pushes are answered without it (issue 9).
``GET /v1/ping``: liveness, touching nothing. Never raises: a dead dependency is an answer."""

from __future__ import annotations

import asyncio
import os

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.response import Response

from app.services import Services
from app.store import health as store_health

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


class ReplicaHealth(msgspec.Struct, omit_defaults=True):
    """A read replica as this process last measured it (every 0.25 s): ``healthy`` means
    drivers' questions go to it; ``lag_s`` is its replay lag behind the primary."""

    name: str
    healthy: bool
    lag_s: float | None = None
    error: str | None = None


class NearbyIndexHealth(msgspec.Struct):
    """This process's nearby index (WATTLAS_NEARBY_CACHE): ``ready`` once every point is read
    (until then the database answers), ``warmed`` once every body that fits is read."""

    ready: bool
    warmed: bool
    pid: int  # the process that answered (each API process has its own index)
    locations: int
    bodies: int
    body_mb: float
    feed_cursor: int


class HealthReport(msgspec.Struct):
    status: str  # ok | degraded (something is down) | unavailable (/health/ready: cannot serve)
    database: DependencyHealth
    redis: DependencyHealth
    schema: SchemaHealth
    # The read replicas of WATTLAS_DATABASE_REPLICA_URLS (empty without). One that is not
    # healthy does not make the service degraded: the primary answers in its place.
    replicas: list[ReplicaHealth] = msgspec.field(default_factory=list)
    nearby_index: NearbyIndexHealth | None = None  # null when it is off


def nearby_index_of(services: Services) -> NearbyIndexHealth | None:
    index = services.nearby_index
    if index is None:
        return None
    s = index.stats
    return NearbyIndexHealth(
        s.ready, s.warmed, os.getpid(), s.locations, s.bodies, round(s.body_bytes / 2**20, 1),
        s.feed_cursor,
    )  # fmt: skip


def replicas_of(services: Services) -> list[ReplicaHealth]:
    replicas = services.store.replicas
    if replicas is None:
        return []
    return [ReplicaHealth(r.name, r.healthy, r.lag_s, r.error) for r in replicas.members]


async def check_database(services: Services) -> tuple[DependencyHealth, SchemaHealth]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout(DEPENDENCY_TIMEOUT_S):
            revision = await store_health.schema_revision(services.store)
    except TimeoutError:
        error = f"no connection to {_where(services)} within {DEPENDENCY_TIMEOUT_S:g} s"
        return DependencyHealth(False, error=error), SchemaHealth(
            False, error="database unreachable"
        )
    except Exception as exc:  # noqa: BLE001 - any failure is the report
        error = f"{type(exc).__name__}: {exc}".strip()
        return DependencyHealth(False, error=error), SchemaHealth(
            False, error="database unreachable"
        )
    latency = round((loop.time() - started) * 1000, 2)
    expected = services.schema_head
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


def _where(services: Services) -> str:
    """host:port/db of the database URL, without credentials."""
    url = services.settings.database_url or ""
    return url.rsplit("@", 1)[-1].split("://", 1)[-1].split("?", 1)[0]


async def check_redis(services: Services) -> DependencyHealth:
    if services.redis is None:
        return DependencyHealth(False, error="not configured (WATTLAS_REDIS_URL)")
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout(DEPENDENCY_TIMEOUT_S):
            await services.redis.ping()
    except Exception as exc:  # noqa: BLE001 - any failure is the report
        return DependencyHealth(False, error=f"{type(exc).__name__}: {exc}")
    return DependencyHealth(True, latency_ms=round((loop.time() - started) * 1000, 2))


@get("/health", summary="Service health", tags=["service"], operation_id="getHealth")
async def health(services: NamedDependency[Services]) -> Response[HealthReport]:
    """Database, Redis and schema revision; 503 naming what is broken."""
    (database, schema), redis = await asyncio.gather(
        check_database(services), check_redis(services)
    )
    ok = database.ok and redis.ok and schema.ok
    report = HealthReport(
        "ok" if ok else "degraded", database, redis, schema, replicas_of(services),
        nearby_index_of(services),
    )  # fmt: skip
    return Response(report, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})


@get(
    "/health/ready",
    summary="Readiness: can this process serve (database and schema; Redis may be down)",
    tags=["service"],
    operation_id="getReadiness",
)
async def ready(services: NamedDependency[Services]) -> Response[HealthReport]:
    """200 while drivers' questions and pushes can be answered; 503 naming what stops them."""
    (database, schema), redis = await asyncio.gather(
        check_database(services), check_redis(services)
    )
    serving = database.ok and schema.ok
    status = "ok" if serving and redis.ok else "degraded" if serving else "unavailable"
    report = HealthReport(
        status, database, redis, schema, replicas_of(services), nearby_index_of(services)
    )
    return Response(
        report, status_code=200 if serving else 503, headers={"Cache-Control": "no-store"}
    )


@get(
    "/v1/ping",
    summary="Liveness: answers without touching anything",
    tags=["service"],
    operation_id="ping",
)
async def ping() -> Response[bytes]:
    """The cheapest possible answer (benchmarks use it as the floor of the HTTP stack)."""
    return Response(b'{"ok":true}', media_type="application/json")
