"""``GET /v1/sources``: every source of the data, with its licence, the attribution its licence
asks for, record counts and last import (issue 12)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Response

from app.api import caching
from app.api.params import no_unknown_parameters
from app.api.schemas import Timestamp
from app.domain.sources import OCPI_LICENCE, REGISTRIES, source_name
from app.services import Services
from app.store import source_imports


class SourceSummary(msgspec.Struct):
    source: str  # ocpi:<network> | afdc | bnetza | ukncr | ocm (as in each location's sources)
    title: str
    kind: str  # registry | ocpi | file
    licence: str
    attribution: str | None  # the text a map shows for it (None: the operator's own data)
    url: str | None
    records: int  # stored records
    shown: int  # visible locations (not merged, not hidden)
    merged: int  # records merged into another source's record of the same site
    quarantined: int  # records and rows refused, each with its reason (`wattlas quarantine`)
    last_import_at: Timestamp | None
    last_import_status: str | None  # running | complete | failed (registries)


_encoder = msgspec.json.Encoder()


@get(
    "/v1/sources",
    summary="Where the data comes from: every source with its licence and counts",
    operation_id="listSources",
    tags=["discovery"],
    guards=[no_unknown_parameters],
)
async def list_sources(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Response[list[SourceSummary]]:
    """Registries first, then OCPI networks with locations; ``attribution`` is what the map
    shows; ``quarantined`` is a registry's last import's. Recomputed at most every 30 seconds
    per process."""
    memo = services.sources_memo
    if not memo.fresh():
        memo.keep(_summaries(await source_imports.counts(services.store)))
    answer: list[SourceSummary] = memo.value
    return caching.answer(
        request,
        _encoder.encode(answer),
        media_type="application/json",
        cache_control=caching.NETWORKS_CACHE_CONTROL,
    )


def _summaries(rows: list[source_imports.SourceCounts]) -> list[SourceSummary]:
    answer = []
    for r in rows:
        meta = REGISTRIES.get(r.name) if r.kind == "registry" else None
        answer.append(
            SourceSummary(
                source=source_name(r.name, r.kind),
                title=meta.title if meta else r.name,
                kind=r.kind,
                licence=meta.licence if meta else OCPI_LICENCE,
                attribution=meta.attribution if meta else None,
                url=meta.url if meta else None,
                records=r.locations,
                shown=r.visible,
                merged=r.merged,
                quarantined=r.quarantined,
                last_import_at=r.last_import_at,
                last_import_status=r.last_import_status,
            )
        )
    return answer
