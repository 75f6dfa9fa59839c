"""``GET /v1/networks``: what the ``network`` filter accepts, with counts (for pickers)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec
from litestar import Request, get
from litestar.response import Response

from app.db.networks import party_networks
from app.runtime import Runtime

CACHE_S = 30.0


class NetworkInfo(msgspec.Struct):
    id: str  # CC*PID, as the network filter takes it
    country_code: str
    party_id: str
    operator: str | None
    source: str  # the roaming connection the data comes from
    locations: int
    evses: int
    live: bool  # heard from recently: its statuses are current, not stale
    last_contact_at: datetime | None


class _Memo(NamedTuple):
    at: float
    networks: list[NetworkInfo]


@get("/v1/networks", summary="Networks with visible locations (values of the network filter)")
async def list_networks(request: Request[Any, Any, Any]) -> Response[list[NetworkInfo]]:
    """Every party with visible locations, most locations first. Recomputed at most every
    30 seconds per process."""
    runtime: Runtime = request.app.state.runtime
    cached = runtime.extras.get("networks")
    if not isinstance(cached, _Memo) or time.monotonic() - cached.at > CACHE_S:
        async with runtime.pool.connection() as conn:
            rows = await party_networks(
                conn, now=datetime.now(UTC), stale_after_s=runtime.settings.stale_after_s
            )
        cached = runtime.extras["networks"] = _Memo(
            time.monotonic(),
            [
                NetworkInfo(
                    f"{r['country_code']}*{r['party_id']}",
                    r["country_code"],
                    r["party_id"],
                    r["operator"],
                    r["source"],
                    r["locations"],
                    int(r["evses"] or 0),
                    bool(r["live"]),
                    r["last_contact_at"],
                )
                for r in rows
            ],
        )
    return Response(cached.networks, headers={"Cache-Control": "public, max-age=30"})
