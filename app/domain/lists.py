"""Lists of OCPI values read leniently, for ingest and for reading stored objects alike.

OCPI 2.3.0 makes most enums OpenEnums: a value we do not know is still a value (ocpi.md §1.11,
P19), so it is kept, trimmed and upper-cased. What is not a string at all is left out."""

from __future__ import annotations

from typing import Any


def enum_list(values: Any) -> list[str]:
    """OpenEnum values (e.g. ``Connector.capabilities``): trimmed, upper-cased, first of each."""
    if not isinstance(values, list):
        return []
    found = (v.strip().upper() for v in values if isinstance(v, str))
    return list(dict.fromkeys(v for v in found if v))


def text_list(values: Any, max_chars: int) -> list[str]:
    """Names (e.g. ``EVSE.accepted_service_providers``): trimmed, at most ``max_chars`` each,
    first of each."""
    if not isinstance(values, list):
        return []
    found = (v.strip()[:max_chars] for v in values if isinstance(v, str))
    return list(dict.fromkeys(v for v in found if v))
