"""EVSE status → availability bucket (architecture.md; ocpi.md §3.11).

Availability is per EVSE. REMOVED is the OCPI deletion marker: such an EVSE is hidden, never
counted.
"""

from __future__ import annotations

from typing import Final

import msgspec

AVAILABLE: Final = "available"
OCCUPIED: Final = "occupied"
OUT_OF_SERVICE: Final = "out_of_service"
PLANNED: Final = "planned"
UNKNOWN: Final = "unknown"
HIDDEN: Final = "hidden"

BUCKETS: Final = (AVAILABLE, OCCUPIED, OUT_OF_SERVICE, PLANNED, UNKNOWN)

STATUS_BUCKET: Final[dict[str, str]] = {
    "AVAILABLE": AVAILABLE,
    "CHARGING": OCCUPIED,
    "BLOCKED": OCCUPIED,
    "RESERVED": OCCUPIED,
    "INOPERATIVE": OUT_OF_SERVICE,
    "OUTOFORDER": OUT_OF_SERVICE,
    "PLANNED": PLANNED,
    "UNKNOWN": UNKNOWN,
    "REMOVED": HIDDEN,
}

KNOWN_STATUSES: Final = frozenset(STATUS_BUCKET)

# Spellings seen in real feeds that mean a known status.
_STATUS_SYNONYMS: Final[dict[str, str]] = {
    "OUT_OF_ORDER": "OUTOFORDER",
    "OCCUPIED": "CHARGING",
    "IN_USE": "CHARGING",
    "FAULTED": "OUTOFORDER",
    "UNAVAILABLE": "INOPERATIVE",
}


def normalise_status(value: str | None) -> tuple[str, str | None]:
    """``(status, note)``: trimmed and upper-cased; an unknown value becomes UNKNOWN with a note."""
    if value is None:
        return "UNKNOWN", "EVSE status missing; read as UNKNOWN"
    cleaned = value.strip().upper().replace(" ", "_").replace("-", "_")
    if cleaned in KNOWN_STATUSES:
        return cleaned, None
    if cleaned in _STATUS_SYNONYMS:
        status = _STATUS_SYNONYMS[cleaned]
        return status, f"EVSE status {value!r} is not an OCPI Status; read as {status}"
    return "UNKNOWN", f"EVSE status {value!r} is not an OCPI Status; read as UNKNOWN"


def status_bucket(status: str) -> str:
    return STATUS_BUCKET.get(status, UNKNOWN)


class BucketCounts(msgspec.Struct):
    """Visible EVSEs by availability bucket: the one spelling of the counts, used by the store's
    write results, the live events and (with ``stale``) the public API."""

    total: int
    available: int
    occupied: int
    out_of_service: int
    unknown: int
    planned: int
