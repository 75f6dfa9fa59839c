"""What a driver asked for: the discovery filters and a map viewport, as plain values.

Filter semantics (issue 4): connector, power, power type, capability and availability are
matched on ONE EVSE — a location matches when one of its visible EVSEs has a connector meeting
the connector and power filters, has the capabilities and, with ``available``, is AVAILABLE with
a status that is not stale. Network, operator, parking, facility, opening hours and
``updated_since`` are about the location.

``updated_since`` keeps the locations whose ``last_updated`` is strictly later than it, so that a
client that remembers when it last read a list asks only for what changed since. A location's
``last_updated`` moves with every change of the location, its EVSEs or its connectors (OCPI
2.2.1 §3.3), status changes included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Filters:
    standards: tuple[str, ...] = ()
    min_power_kw: float | None = None
    max_power_kw: float | None = None
    power_class: str | None = None  # AC | DC
    available: bool = False
    max_status_age_s: int | None = None
    capabilities: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()  # CC*PID
    exclude_networks: tuple[str, ...] = ()
    operator: str | None = None
    parking_types: tuple[str, ...] = ()
    facilities: tuple[str, ...] = ()
    open_now: bool = False
    updated_since: datetime | None = None  # aware; strictly after

    @property
    def evse_level(self) -> bool:
        """Filters that must hold on one EVSE (and change the counts reported as ``matching``)."""
        return bool(
            self.standards
            or self.min_power_kw is not None
            or self.max_power_kw is not None
            or self.power_class
            or self.capabilities
            or self.available
        )


NO_FILTERS = Filters()


@dataclass(frozen=True)
class Bbox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @property
    def crosses_antimeridian(self) -> bool:
        return self.min_lon > self.max_lon

    def lon_ranges(self) -> list[tuple[float, float]]:
        """(west, east) ranges that cover the box: two when it crosses the antimeridian."""
        if self.crosses_antimeridian:
            return [(self.min_lon, 180.0), (-180.0, self.max_lon)]
        return [(self.min_lon, self.max_lon)]

    def contains(self, lat: float, lon: float) -> bool:
        if not self.min_lat <= lat <= self.max_lat:
            return False
        if self.min_lon <= self.max_lon:
            return self.min_lon <= lon <= self.max_lon
        return lon >= self.min_lon or lon <= self.max_lon
