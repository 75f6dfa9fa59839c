"""``GET /v1/networks``: what the ``network`` filter accepts, with counts (for pickers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Response

from app.api import caching
from app.api.params import no_unknown_parameters
from app.api.schemas import Timestamp
from app.services import Services
from app.store import networks


class NetworkInfo(msgspec.Struct):
    id: str  # CC*PID, as the network filter takes it
    country_code: str
    party_id: str
    operator: str | None
    source: str  # the roaming connection the data comes from
    locations: int
    evses: int
    live: bool  # heard from recently: its statuses are current, not stale
    last_contact_at: Timestamp | None


_encoder = msgspec.json.Encoder()


@get(
    "/v1/networks",
    summary="Networks with visible locations (values of the network filter)",
    operation_id="listNetworks",
    tags=["discovery"],
    guards=[no_unknown_parameters],
)
async def list_networks(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Response[list[NetworkInfo]]:
    """Every party with visible locations, most locations first. Recomputed at most every
    30 seconds per process."""
    memo = services.networks_memo
    if not memo.fresh():
        rows = await networks.party_networks(
            services.store, now=datetime.now(UTC), stale_after_s=services.settings.stale_after_s
        )
        memo.keep(
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
            ]
        )
    answer: list[NetworkInfo] = memo.value
    return caching.answer(
        request,
        _encoder.encode(answer),
        media_type="application/json",
        cache_control=caching.NETWORKS_CACHE_CONTROL,
    )
