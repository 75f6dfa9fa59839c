"""Small public pieces that the discovery SQL is composed of (the tipg style): a statement
under construction that binds every value as a parameter, and named fragments for the rules
that several queries share. Each fragment works on the aliases ``l`` (locations), ``e`` (evses),
``c`` (connectors) and ``n`` (networks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.domain.filters import Bbox, Filters


@dataclass
class Sql:
    """A statement under construction: its WHERE fragments and their bound values."""

    params: dict[str, Any] = field(default_factory=dict)
    where: list[str] = field(default_factory=list)

    @classmethod
    def at(cls, now: datetime, stale_after_s: int) -> Sql:
        """A statement evaluated at ``now``, with the service's default staleness limit (the
        parameters ``network_silent`` and the summary columns refer to)."""
        return cls(params={"now": now, "stale_after_s": stale_after_s})

    def bind(self, name: str, value: Any) -> str:
        self.params[name] = value
        return f"%({name})s"


# The staleness rule in SQL; its Python twin is app.domain.staleness (tests/test_staleness.py
# keeps the two in agreement).
NETWORK_SILENT = (
    "(n.last_contact_at IS NULL OR n.last_contact_at < %(now)s"
    " - make_interval(secs => coalesce(n.stale_after_s, %(stale_after_s)s)))"
)


def evse_stale(q: Sql, filters: Filters) -> str:
    """The caller's ``max_status_age_s`` bound on alias ``e`` (``false`` without one)."""
    if filters.max_status_age_s is None:
        return "false"
    age = q.bind("max_status_age_s", filters.max_status_age_s)
    return f"(e.status_updated_at < %(now)s - make_interval(secs => {age}))"


def connector_match(q: Sql, filters: Filters) -> str | None:
    """A visible connector of EVSE ``e`` meeting the connector and power filters, or None when
    there are no such filters."""
    parts = []
    if filters.standards:
        parts.append(f"c.standard = ANY({q.bind('standards', list(filters.standards))})")
    if filters.min_power_kw is not None:
        parts.append(f"c.max_power_kw >= {q.bind('min_power_kw', filters.min_power_kw)}")
    if filters.max_power_kw is not None:
        parts.append(f"c.max_power_kw <= {q.bind('max_power_kw', filters.max_power_kw)}")
    if filters.power_class == "DC":
        parts.append("c.power_type = 'DC'")
    elif filters.power_class == "AC":
        parts.append("c.power_type LIKE 'AC%%'")
    if not parts:
        return None
    return (
        "EXISTS (SELECT 1 FROM connectors c WHERE c.evse_pk = e.id AND c.visible AND "
        + " AND ".join(parts)
        + ")"
    )


def evse_match(q: Sql, filters: Filters) -> str:
    """The one-EVSE predicate, on alias ``e`` (with ``n`` the location's network)."""
    parts = ["e.visible"]
    if filters.capabilities:
        parts.append(f"e.capabilities @> {q.bind('capabilities', list(filters.capabilities))}")
    if filters.available:
        parts.append(
            f"e.status_bucket = 'available' AND NOT {NETWORK_SILENT}"
            f" AND NOT {evse_stale(q, filters)}"
        )
    connector = connector_match(q, filters)
    if connector is not None:
        parts.append(connector)
    return " AND ".join(parts)


def location_filters(q: Sql, filters: Filters) -> None:
    """Append the location-level conditions (visibility, projection pruning, the one-EVSE
    check and the location's own filters) to the statement."""
    w = q.where
    w.append("l.visible")
    # Cheap pruning on the projection before the per-EVSE check.
    if filters.standards:
        w.append(f"l.connector_standards && {q.bind('standards', list(filters.standards))}")
    if filters.min_power_kw is not None:
        w.append(f"l.max_power_kw >= {q.bind('min_power_kw', filters.min_power_kw)}")
    if filters.power_class:
        w.append(f"{q.bind('power_class', filters.power_class)} = ANY(l.power_types)")
    if filters.available:
        w.append("l.available_count > 0")
    if filters.evse_level:
        w.append(
            f"EXISTS (SELECT 1 FROM evses e WHERE e.location_id = l.id AND "
            f"{evse_match(q, filters)})"
        )
    if filters.networks:
        w.append(
            "l.country_code || '*' || l.party_id = "
            f"ANY({q.bind('networks', list(filters.networks))})"
        )
    if filters.exclude_networks:
        w.append(
            "NOT (l.country_code || '*' || l.party_id = "
            f"ANY({q.bind('exclude_networks', list(filters.exclude_networks))}))"
        )
    if filters.operator:
        w.append(f"l.operator_name ILIKE {q.bind('operator', '%' + like(filters.operator) + '%')}")
    if filters.parking_types:
        w.append(f"l.parking_type = ANY({q.bind('parking_types', list(filters.parking_types))})")
    if filters.facilities:
        w.append(f"l.facilities && {q.bind('facilities', list(filters.facilities))}")
    if filters.open_now:
        # Unknown hours are not excluded: only a location known to be closed is.
        w.append(
            "(l.open_24_7 OR wattlas_open_now(l.opening_times, l.time_zone, %(now)s) IS NOT FALSE)"
        )
    if filters.updated_since is not None:
        w.append(f"l.last_updated > {q.bind('updated_since', filters.updated_since)}")


def like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def in_bbox(q: Sql, bbox: Bbox, column: str = "l.geom") -> str:
    """The planar index test for a box (two boxes across the antimeridian)."""
    envelopes = [
        f"{column} && ST_MakeEnvelope({q.bind(f'w{i}', west)}, {q.bind('s', bbox.min_lat)}, "
        f"{q.bind(f'e{i}', east)}, {q.bind('n', bbox.max_lat)}, 4326)"
        for i, (west, east) in enumerate(bbox.lon_ranges())
    ]
    return "(" + " OR ".join(envelopes) + ")"


def point(q: Sql, lat: float, lon: float) -> str:
    """A geography point from bound coordinates."""
    return f"ST_SetSRID(ST_MakePoint({q.bind('lon', lon)}, {q.bind('lat', lat)}), 4326)::geography"


def summary_columns(q: Sql, filters: Filters) -> str:
    """The columns a location summary is built from (``app.api.summaries``); with EVSE-level
    filters or a status age bound, also the per-EVSE facts of each result."""
    columns = f"""
        l.id AS pk, l.public_id, l.name, l.address, l.city, l.postal_code, l.country,
        l.lat, l.lon, l.country_code, l.party_id, n.name AS network_name, l.ocpi_id_raw,
        n.kind AS network_kind, l.own_updated_at, l.merged_sources::text AS merged_sources_json,
        l.operator_name, l.max_power_kw,
        CASE WHEN l.open_24_7 THEN true
             ELSE wattlas_open_now(l.opening_times, l.time_zone, %(now)s) END AS open_now,
        l.connector_groups::text AS connector_groups_json, l.evse_count, l.available_count,
        l.occupied_count,
        l.out_of_service_count, l.unknown_count, l.planned_count, l.status_updated_at,
        l.tariff_links::text AS tariff_links_json, l.time_zone AS tz,
        {NETWORK_SILENT} AS network_silent"""
    if filters.max_status_age_s is not None or filters.evse_level:
        # Per-EVSE facts for these results only: staleness by status age, and which EVSEs
        # match the EVSE-level filters (the counts reported as `matching`).
        columns += f""",
        (SELECT jsonb_agg(jsonb_build_object(
                    'b', e.status_bucket,
                    's', {evse_stale(q, filters)},
                    'm', {evse_match(q, filters) if filters.evse_level else "true"},
                    'c', (SELECT jsonb_agg(DISTINCT jsonb_build_array(
                                     c.standard, c.power_type, c.max_power_kw))
                          FROM connectors c WHERE c.evse_pk = e.id AND c.visible)))
         FROM evses e WHERE e.location_id = l.id AND e.visible) AS evse_facts"""
    return columns
