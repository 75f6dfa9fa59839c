"""Rows of the discovery queries → the public summary of a location.

Staleness is applied here (architecture.md): when the network has been silent too long every
EVSE status is stale; with ``max_status_age_s`` each EVSE older than that is. Stale EVSEs are
counted as ``stale``, never as available, occupied or out of service.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from app.api.schemas import (
    Availability,
    ConnectorGroup,
    Coordinates,
    Counts,
    LocationSummary,
    NetworkRef,
    SourceRecord,
)
from app.domain.filters import Filters
from app.domain.sources import licence_of, source_name
from app.domain.status import BUCKETS

_groups_decoder = msgspec.json.Decoder(list[ConnectorGroup])
_sources_decoder = msgspec.json.Decoder(list[SourceRecord])
# Filled from a merged record when the location's own record does not say them (issue 12).
FILLABLE = ("name", "address", "postal_code", "operator")


def _stale_groups(groups: list[ConnectorGroup]) -> list[ConnectorGroup]:
    return [
        ConnectorGroup(g.standard, g.power_type, g.max_power_kw, g.evses, 0, 0, 0, 0, 0, g.evses)
        for g in groups
    ]


def _from_facts(
    facts: list[dict[str, Any]], silent: bool
) -> tuple[Counts, list[ConnectorGroup], Counts]:
    """Counts, connector groups and matching counts from per-EVSE facts (slow path)."""
    totals = dict.fromkeys((*BUCKETS, "stale"), 0)
    matching = dict.fromkeys((*BUCKETS, "stale"), 0)
    groups: dict[tuple[str, str, float | None], dict[str, Any]] = {}
    for fact in facts:
        bucket = "stale" if silent or fact["s"] else fact["b"]
        totals[bucket] += 1
        if fact["m"]:
            matching[bucket] += 1
        for standard, power_type, kw in {tuple(c) for c in fact["c"] or []}:
            group = groups.setdefault(
                (standard, power_type, kw), {"evses": 0, **dict.fromkeys((*BUCKETS, "stale"), 0)}
            )
            group["evses"] += 1
            group[bucket] += 1
    ordered = sorted(groups.items(), key=lambda kv: (-(kv[0][2] or 0), kv[0][0], kv[0][1]))
    return (
        Counts(total=len(facts), **{k: totals[k] for k in (*BUCKETS, "stale")}),
        [
            ConnectorGroup(
                s,
                p,
                kw,
                g["evses"],
                g["available"],
                g["occupied"],
                g["out_of_service"],
                g["unknown"],
                g["planned"],
                g["stale"],
            )
            for (s, p, kw), g in ordered
        ],
        Counts(total=sum(matching.values()), **matching),
    )


def summarise(row: dict[str, Any], filters: Filters) -> LocationSummary:
    silent = bool(row["network_silent"])
    facts = row.get("evse_facts")
    matching: Counts | None = None
    if facts is not None:
        counts, groups, match_counts = _from_facts(facts, silent)
        if filters.evse_level:
            matching = match_counts
    else:
        groups = (
            _groups_decoder.decode(row["connector_groups_json"])
            if isinstance(row.get("connector_groups_json"), bytes | str)
            else [msgspec.convert(g, ConnectorGroup) for g in row["connector_groups"] or []]
        )
        if silent:
            groups = _stale_groups(groups)
            counts = Counts(row["evse_count"], 0, 0, 0, 0, 0, row["evse_count"])
        else:
            counts = Counts(
                row["evse_count"],
                row["available_count"],
                row["occupied_count"],
                row["out_of_service_count"],
                row["unknown_count"],
                row["planned_count"],
                0,
            )
    reason = None
    if silent:
        reason = "network silent"
    elif counts.stale:
        reason = "status older than max_status_age_s"
    availability = Availability(
        total=counts.total,
        available=counts.available,
        occupied=counts.occupied,
        out_of_service=counts.out_of_service,
        unknown=counts.unknown,
        planned=counts.planned,
        stale=counts.stale,
        updated_at=row["status_updated_at"],
        stale_reason=reason,
    )
    coordinates = Coordinates(row["lat"], row["lon"])
    sources, filled_fields, filled = _provenance(row, coordinates)
    fields = filled_fields or {
        "name": row["name"],
        "address": row["address"],
        "postal_code": row["postal_code"],
        "operator": row["operator_name"],
    }
    return LocationSummary(
        id=row["public_id"],
        name=fields["name"],
        address=fields["address"],
        city=row["city"],
        postal_code=fields["postal_code"],
        country=row["country"],
        coordinates=coordinates,
        network=NetworkRef(row["country_code"], row["party_id"], row["network_name"]),
        ocpi_id=row["ocpi_id_raw"],
        operator=fields["operator"],
        max_power_kw=row["max_power_kw"],
        open_now=row["open_now"],
        connector_groups=groups,
        availability=availability,
        matching=matching,
        distance_m=_round(row.get("distance_m")),
        route_offset_m=_round(row.get("offset_m")),
        distance_from_route_m=_round(row.get("distance_from_route_m")),
        score=round(row["score"], 3) if row.get("score") is not None else None,
        sources=sources,
        field_sources=filled,
    )


@functools.lru_cache(maxsize=1024)
def _source_of(network_name: str, kind: str) -> tuple[str, str]:
    return source_name(network_name, kind), licence_of(network_name, kind)


def _provenance(
    row: dict[str, Any], coordinates: Coordinates
) -> tuple[list[SourceRecord], dict[str, str | None] | None, dict[str, str]]:
    """The location's sources (its own record, then the merged ones); when records were merged,
    its static fields (its own; what it does not say, from the most recent merged record that
    does) and which source each filled field came from (None: the row's own fields)."""
    source, licence = _source_of(row["network_name"], row["network_kind"])
    own = SourceRecord(
        source, row["ocpi_id_raw"], row["name"], coordinates, licence, row["own_updated_at"]
    )
    merged_json = row.get("merged_sources_json")
    if not merged_json:
        return [own], None, {}
    fields: dict[str, str | None] = {
        "name": row["name"],
        "address": row["address"],
        "postal_code": row["postal_code"],
        "operator": row["operator_name"],
    }
    merged = _sources_decoder.decode(merged_json)
    filled: dict[str, str] = {}
    for other in sorted(merged, key=lambda m: m.updated_at, reverse=True):
        for name in FILLABLE:
            value = getattr(other, name)
            if fields[name] is None and value:
                fields[name] = value
                filled[name] = other.source
    return [own, *merged], fields, filled


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None
