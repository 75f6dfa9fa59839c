"""Tariffs: decode and normalise (ocpi.md §4); the store applies them. Connectors link to them
softly by ``tariff_ids`` of the same party (2.1.1: ``tariff_id``); a tariff may arrive before or
after the locations that use it, and a DELETE hides it.

A 2.3.0 tariff must say whether its prices include taxes (``tax_included``, §4.9): without it
they could be incl. or excl. taxes, so it is refused rather than shown (or priced) wrongly.
Its ``min_price``/``max_price`` (PriceLimit) are kept as sent, like 2.2.x Price."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from app.domain.tariffs import tariff_summary, tax_included
from app.domain.timestamps import parse_timestamp
from app.store.records import Problem, TariffRecord
from ingest.ocpi import storable, wire
from ingest.ocpi.normalise import MAX_CLOCK_SKEW


def normalise_tariff(
    raw: bytes,
    *,
    country_code: str | None,
    party_id: str | None,
    received_at: datetime,
    problems: list[Problem],
    ocpi_version: str | None = None,
) -> TariffRecord | None:
    try:
        wire.tariff_decoder.decode(raw)
        obj: dict[str, Any] = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        problems.append(
            Problem("tariff", None, f"tariff unusable: {exc}".replace("`", ""), raw_text=_text(raw))
        )
        return None
    if (nul := storable.nul_in_json(raw)) is not None:
        problems.append(Problem("tariff", None, f"tariff unusable: {nul}", raw_text=_text(raw)))
        return None
    tariff_id = str(obj.get("id") or "").strip()
    cc = str(obj.get("country_code") or country_code or "").strip().upper()
    pid = str(obj.get("party_id") or party_id or "").strip().upper()
    key = f"{cc or '?'}*{pid or '?'}*{tariff_id.upper() or '?'}"
    for field, value in (("id", tariff_id), ("country_code", cc), ("party_id", pid)):
        if value and (bad := storable.id_problem(field, value)) is not None:
            problems.append(
                Problem("tariff", key[: storable.MAX_ID_CHARS], f"tariff unusable: {bad}",
                        raw_text=_text(raw))
            )  # fmt: skip
            return None
    if not tariff_id:
        problems.append(Problem("tariff", key, "tariff without id", raw=raw))
        return None
    if not cc or not pid:
        problems.append(Problem("tariff", key, "tariff without country_code/party_id", raw=raw))
        return None
    currency = str(obj.get("currency") or "").strip().upper()
    if len(currency) != 3:
        problems.append(
            Problem("tariff", key, f"currency {obj.get('currency')!r} is not ISO 4217", raw=raw)
        )
        return None
    if ocpi_version == "2.3.0" and (obj.get("tax_included") is None or tax_included(obj) is None):
        given = obj.get("tax_included")
        what = "missing" if given is None else f"{given!r} is not YES, NO or N/A"
        problems.append(
            Problem(
                "tariff",
                key,
                f"tax_included {what} (required in OCPI 2.3.0: without it the prices could be "
                "incl. or excl. taxes)",
                raw=raw,
            )
        )
        return None
    elements = obj.get("elements")
    if not isinstance(elements, list) or not elements:
        alt = obj.get("tariff_alt_text")
        if not alt:
            problems.append(Problem("tariff", key, "tariff without elements", raw=raw))
            return None
        elements = []
    last_updated = parse_timestamp(obj.get("last_updated"))
    if last_updated is None:
        problems.append(
            Problem("tariff", key, "tariff last_updated missing; used time of receipt", "note")
        )
        last_updated = received_at
    elif last_updated > received_at + MAX_CLOCK_SKEW:
        last_updated = received_at
    kind = obj.get("type")
    return TariffRecord(
        country_code=cc,
        party_id=pid,
        tariff_id=tariff_id.upper(),
        tariff_id_raw=tariff_id,
        currency=currency,
        type=kind.strip().upper() if isinstance(kind, str) and kind.strip() else None,
        elements=elements,
        alt_text=obj.get("tariff_alt_text"),
        alt_url=obj.get("tariff_alt_url") if isinstance(obj.get("tariff_alt_url"), str) else None,
        min_price=obj.get("min_price"),
        max_price=obj.get("max_price"),
        start_date_time=parse_timestamp(obj.get("start_date_time")),
        end_date_time=parse_timestamp(obj.get("end_date_time")),
        summary=tariff_summary(obj),
        last_updated=last_updated,
        raw=obj,
    )


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").replace("\x00", "\\u0000")
