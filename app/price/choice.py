"""Which of the given Tariffs prices a session (ocpi.md §4.7).

A Connector may list several tariffs, but only one per ``type`` is active at a time, and the
tariff valid when the session starts is the one the driver accepted (§4.3 note). So: keep the
tariffs whose ``start_date_time``/``end_date_time`` window holds the session start; with a
requested ``tariff_type`` take one of that type, else one without a type ("valid for all
sessions"); without a requested type prefer no type or REGULAR (RFID, no preference), then
AD_HOC_PAYMENT, then the smart-charging profiles. List order breaks ties.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from app.price.errors import PriceRequestError
from app.price.model import Tariff, TariffType

_DEFAULT_RANK: Final = {None: 0, "REGULAR": 0, "AD_HOC_PAYMENT": 1}


def select_tariff(
    tariffs: Sequence[Tariff], at: datetime, tariff_type: TariffType | None = None
) -> int:
    """Index of the tariff that prices a session starting ``at``; ``PriceRequestError`` on
    ``tariffs`` when none fits."""
    valid = [i for i, tariff in enumerate(tariffs) if tariff.is_valid_at(at)]
    if tariff_type is not None:
        ranked = [i for i in valid if tariffs[i].type == tariff_type]
        ranked += [i for i in valid if tariffs[i].type is None]
    else:
        ranked = sorted(valid, key=lambda i: _DEFAULT_RANK.get(tariffs[i].type, 2))
    if not ranked:
        wanted = f" of type {tariff_type}" if tariff_type else ""
        raise PriceRequestError(
            "tariffs", f"no tariff{wanted} is valid at the session start {at.isoformat()}"
        )
    return ranked[0]
