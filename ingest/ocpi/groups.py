"""Connector groups of a location: its EVSEs grouped by (standard, power type, max power), with
counts per availability bucket. An EVSE with a CCS and a CHAdeMO connector counts in both groups:
counts are of EVSEs (status is per EVSE, ocpi.md §3.11). The same rule is computed in SQL for
status updates (``ingest/sql/refresh_projection.sql``); a test checks the two agree."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.domain.status import BUCKETS


@dataclass(frozen=True, slots=True)
class EvseFacts:
    bucket: str
    connectors: tuple[tuple[str, str, float | None], ...]  # (standard, power_type, max_power_kw)


def tariff_links(
    connectors: Iterable[tuple[str, str, float | None, tuple[str, ...]]],
) -> list[list[Any]]:
    """The distinct ``[standard, power_type, max_power_kw, [tariff id, …]]`` of the visible
    connectors that list a tariff (migration 0008; ``wattlas_tariff_links`` in SQL)."""
    distinct = {c for c in connectors if c[3]}
    ordered = sorted(distinct, key=lambda c: (c[0], c[1], c[2] is None, c[2] or 0, c[3]))
    return [[s, p, kw, list(ids)] for s, p, kw, ids in ordered]


def connector_groups(evses: Iterable[EvseFacts]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, float | None], dict[str, Any]] = {}
    for evse in evses:
        for key in set(evse.connectors):
            group = groups.get(key)
            if group is None:
                group = {
                    "standard": key[0],
                    "power_type": key[1],
                    "max_power_kw": key[2],
                    "evses": 0,
                    **dict.fromkeys(BUCKETS, 0),
                }
                groups[key] = group
            group["evses"] += 1
            if evse.bucket in BUCKETS:
                group[evse.bucket] += 1
    # Fastest first, then by standard: what a driver scans for.
    return sorted(
        groups.values(), key=lambda g: (-(g["max_power_kw"] or 0), g["standard"], g["power_type"])
    )
