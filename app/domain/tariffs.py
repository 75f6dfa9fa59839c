"""Tariff price summaries and the tariff to show by default (ocpi.md §4).

Plain functions on JSON-decoded OCPI Tariff objects of any version (2.1.1, 2.2, 2.2.1, 2.3.0).
CPO data is often sloppy, so nothing here raises on odd input: what cannot be read is left out.

Summary conventions (``tariff_summary``):

* Taxes: prices are shown as the CPO published them, never recomputed. 2.1.1 and 2.2.x prices
  are excl. VAT (§4.4): "(excl. VAT)"; the per-component ``vat`` is not applied, because it
  differs per component and 2.1.1 has none. 2.3.0 says which via ``tax_included`` (§4.9), about
  taxes in general (VAT, or a North American sales tax): ``NO`` → "(excl. taxes)", ``YES`` →
  "(incl. taxes)", ``N/A`` → "(no taxes)"; any other value → "(taxes not stated)" (ingest
  refuses such a 2.3.0 tariff). ``min_price``/``max_price`` are shown on the same basis as the
  prices.
* Units: ENERGY per kWh, FLAT per session ("start fee"), TIME and PARKING_TIME per hour, or per
  minute when every non-zero price of that dimension is at least 0.10/min and exact per minute
  to 4 decimals (6.00/h → 0.10/min, 7.50/h → 0.125/min; 2.00/h stays 2.00/h, since 0.0333…/min
  would need rounding and small hourly prices are how slow AC time pricing is quoted).
* Amounts have 2 decimals, up to 4 when the CPO priced finer (0.2899 EUR/kWh stays exact).
* Restricted prices are listed in evaluation order with their conditions (§4.5: per dimension the
  first matching element wins). Elements that can never apply are left out. A dimension with no
  unrestricted fallback is free outside the listed conditions (§4.5 rule 3); that is not spelled
  out. Reservation elements are summarised after the charging and parking prices.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Final

from app.domain.timestamps import parse_timestamp

_ENERGY: Final = "ENERGY"
_FLAT: Final = "FLAT"
_TIME: Final = "TIME"
_PARKING: Final = "PARKING_TIME"
_UNITS: Final = {_ENERGY: "/kWh", _FLAT: "", _TIME: "/h", _PARKING: "/h"}
# Reservation elements may only carry FLAT and TIME components (§4.4).
_RESERVATION_DIMENSIONS: Final = (_FLAT, _TIME)
_RESERVATION_LABELS: Final = {
    "RESERVATION": "reservation",
    "RESERVATION_EXPIRES": "expired reservation",
}

_TAX_INCLUDED: Final = {"YES": "YES", "NO": "NO", "N/A": "N/A", "NA": "N/A"}
_TAX_NOTES: Final = {"YES": "incl. taxes", "NO": "excl. taxes", "N/A": "no taxes"}

_STEP: Final = Decimal("0.0001")  # finest amount shown
_MAX_NUMBER: Final = Decimal(10) ** 12  # larger is garbage (and would overflow quantize)
_PER_MINUTE_FROM: Final = Decimal("0.10")

# Numeric restriction pairs: (lower key, upper key, divisor to display unit, phrases).
_BOUNDS: Final = (
    ("min_duration", "max_duration", 60, "after {lo} min", "first {hi} min", "{lo}–{hi} min"),
    ("min_kwh", "max_kwh", 1, "after {lo} kWh", "first {hi} kWh", "{lo}–{hi} kWh"),
    ("min_power", "max_power", 1, "≥ {lo} kW", "< {hi} kW", "{lo}–{hi} kW"),
    ("min_current", "max_current", 1, "≥ {lo} A", "< {hi} A", "{lo}–{hi} A"),
)
_NUMBER_KEYS: Final = frozenset(key for bound in _BOUNDS for key in bound[:2])
_DAYS: Final = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_TIME_RE: Final = re.compile(r"([01]?[0-9]|2[0-3]):[0-5][0-9]")
_DATE_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# (price, restrictions) in element order, per (reservation type or None, dimension).
_Groups = dict[tuple[str | None, str], list[tuple[Decimal, dict[str, Any]]]]


def tariff_summary(tariff: dict[str, Any], *, tax_note: str | None = None) -> str:
    """A short price summary of one OCPI Tariff (conventions in the module docstring), e.g.
    "0.25 EUR/kWh + 0.50 EUR start fee (excl. VAT)".

    "Free" when every price is 0 and there is no minimum price (§4.5 rule 5 is the canonical
    case). ``tariff_alt_text`` only when no element can be summarised; "" when nothing can be said.
    """
    if not isinstance(tariff, dict):
        return ""
    currency = tariff.get("currency")
    currency = currency.strip() if isinstance(currency, str) else ""
    incl_vat = tax_note is not None or _tax_note(tariff.get("tax_included")) == _TAX_NOTES["YES"]
    if tax_note is None and tariff.get("basis") == "registry_text":
        tax_note = "as published"  # a register's text never says whether taxes are in it
    tax_note = tax_note or _tax_note(tariff.get("tax_included"))
    groups = _price_groups(tariff.get("elements"))
    min_price = _limit("min", tariff.get("min_price"), incl_vat, currency)
    max_price = _limit("max", tariff.get("max_price"), incl_vat, currency)
    if groups and min_price is None and not any(p for e in groups.values() for p, _ in e):
        return "Free"

    parts: list[str] = []
    charging = [
        _dimension_prices(groups, None, dimension, currency)
        for dimension in (_ENERGY, _TIME, _FLAT)
    ]
    charging = [prices for prices in charging if prices]
    if all(len(prices) == 1 for prices in charging):
        parts.append(" + ".join(prices[0] for prices in charging))
    else:
        # "+" would read as binding only to the last of several alternative prices.
        parts.extend(", ".join(prices) for prices in charging)
    if parking := _dimension_prices(groups, None, _PARKING, currency):
        parts.append("parking " + ", ".join(parking))
    for reservation, label in _RESERVATION_LABELS.items():
        reserved = [
            ", ".join(prices)
            for dimension in _RESERVATION_DIMENSIONS
            if (prices := _dimension_prices(groups, reservation, dimension, currency))
        ]
        if reserved:
            parts.append(f"{label} " + " + ".join(reserved))
    parts = [part for part in parts if part]
    if not parts:
        return _alt_text(tariff.get("tariff_alt_text"))
    parts.extend(limit for limit in (min_price, max_price) if limit)
    return "; ".join(parts) + (f" ({tax_note})" if tax_note else "")


def tariff_summary_incl_vat(tariff: dict[str, Any]) -> str | None:
    """The summary with each price incl. VAT, e.g. "0.30 EUR/kWh + 0.60 EUR start fee (incl.
    VAT)": every priced component's ``vat`` (2.2.x, 2.3.0) added to its price. A tariff whose
    prices already include taxes, or to which none apply (2.3.0 ``tax_included`` YES / N/A), is
    summarised as published. None when some non-zero price has no ``vat`` (2.1.1, registry
    text, most North American tariffs): its price incl. VAT is not known."""
    if not isinstance(tariff, dict):
        return None
    note = _tax_note(tariff.get("tax_included"))
    if note in (_TAX_NOTES["YES"], _TAX_NOTES["N/A"]):
        return tariff_summary(tariff) or None
    if tariff.get("basis") == "registry_text" or note not in ("excl. VAT", _TAX_NOTES["NO"]):
        return None
    elements = tariff.get("elements")
    if not isinstance(elements, list):
        return None
    scaled: list[Any] = []
    for element in elements:
        if not isinstance(element, dict):
            scaled.append(element)
            continue
        components = []
        for component in element.get("price_components") or []:
            if not isinstance(component, dict):
                continue
            price, vat = _decimal(component.get("price")), _decimal(component.get("vat"))
            if price is None:
                continue
            if vat is None:
                # 2.2 and later (they name their party): no vat is no VAT applicable; 2.1.1
                # has no vat at all, so its VAT is not known.
                if price and not tariff.get("country_code"):
                    return None
                vat = Decimal(0)
            components.append({**component, "price": str(price * (1 + vat / 100))})
        scaled.append({**element, "price_components": components})
    with_vat = {**tariff, "elements": scaled}
    label = "incl. taxes" if "tax_included" in tariff else "incl. VAT"  # 2.3.0 speaks of taxes
    return tariff_summary(with_vat, tax_note=label) or None


def active_tariffs(tariffs: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The tariffs valid at ``now``, in list order (§4.7): a ``start_date_time`` in the future or
    an ``end_date_time`` in the past drops a tariff; an unreadable bound counts as absent."""
    now = _as_utc(now)
    active = []
    for tariff in tariffs:
        if not isinstance(tariff, dict):
            continue
        start = parse_timestamp(tariff.get("start_date_time"))
        end = parse_timestamp(tariff.get("end_date_time"))
        if (start is None or start <= now) and (end is None or now <= end):
            active.append(tariff)
    return active


def display_tariff(tariffs: list[dict[str, Any]], now: datetime) -> dict[str, Any] | None:
    """The active tariff to show by default (§4.7): ``type`` absent or REGULAR first, then
    AD_HOC_PAYMENT ("pay by card"), then any other; list order breaks ties."""
    return min(active_tariffs(tariffs, now), key=_display_rank, default=None)


def _display_rank(tariff: dict[str, Any]) -> int:
    tariff_type = tariff.get("type")
    if tariff_type is None:
        return 0  # absent type: valid for all sessions (§4.3)
    if not isinstance(tariff_type, str):
        return 2
    return {"REGULAR": 0, "AD_HOC_PAYMENT": 1}.get(tariff_type.upper(), 2)


def _price_groups(elements: Any) -> _Groups:
    groups: _Groups = {}
    for element in elements if isinstance(elements, list) else []:
        if not isinstance(element, dict):
            continue
        restrictions = _restrictions(element.get("restrictions"))
        if restrictions is None:
            continue  # an unreadable condition: better unsaid than shown as unconditional
        reservation = restrictions.pop("reservation", None)
        allowed = _RESERVATION_DIMENSIONS if reservation else tuple(_UNITS)
        components = element.get("price_components")
        for component in components if isinstance(components, list) else []:
            if not isinstance(component, dict):
                continue
            dimension, price = component.get("type"), _decimal(component.get("price"))
            if price is None or not isinstance(dimension, str) or dimension.upper() not in allowed:
                continue  # unknown dimension or missing price: skip the component
            groups.setdefault((reservation, dimension.upper()), []).append((price, restrictions))
    return groups


def _restrictions(raw: Any) -> dict[str, Any] | None:
    """The restrictions we can phrase, with checked values; None when one is unreadable.
    Unknown keys (later versions, custom) are tolerated and not shown (ocpi.md §6 P21)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        return None
    checked: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None or value == []:
            continue
        parsed: Any = None
        if key in _NUMBER_KEYS:
            parsed = _decimal(value)
        elif key in ("start_time", "end_time"):
            parsed = value if isinstance(value, str) and _TIME_RE.fullmatch(value) else None
        elif key in ("start_date", "end_date"):
            parsed = value if isinstance(value, str) and _DATE_RE.fullmatch(value) else None
        elif key == "day_of_week":
            parsed = _weekdays(value)
        elif key == "reservation":
            parsed = value if isinstance(value, str) and value in _RESERVATION_LABELS else None
        else:
            continue
        if parsed is None:
            return None
        checked[key] = parsed
    return checked


def _weekdays(value: Any) -> tuple[int, ...] | None:
    days = [value] if isinstance(value, str) else value
    if not isinstance(days, list) or not all(isinstance(d, str) for d in days):
        return None
    if not all(day.upper() in _DAYS for day in days):
        return None
    return tuple(sorted({_DAYS.index(day.upper()) for day in days}))


def _dimension_prices(
    groups: _Groups, reservation: str | None, dimension: str, currency: str
) -> list[str]:
    reachable = _reachable(groups.get((reservation, dimension), []))
    prices = [price for price, _ in reachable]
    if dimension == _FLAT and not any(prices):
        return []  # a zero fee says nothing
    divisor, unit = Decimal(1), _UNITS[dimension]
    if unit == "/h" and _reads_per_minute(prices):
        divisor, unit = Decimal(60), "/min"
    if dimension == _FLAT and reservation is None:
        unit = " start fee"
    return [
        " ".join(filter(None, (_money(price / divisor, currency) + unit, qualifier)))
        for price, qualifier in reachable
    ]


def _reachable(entries: list[tuple[Decimal, dict[str, Any]]]) -> list[tuple[Decimal, str]]:
    """(price, condition text) of the entries that can ever apply, in evaluation order (§4.5)."""
    reachable: list[tuple[Decimal, str]] = []
    earlier: list[dict[str, Any]] = []
    for price, restrictions in entries:
        if {} in earlier or restrictions in earlier:
            continue  # an earlier element always matches first
        qualifier = _qualifier(restrictions, earlier)
        if qualifier is None:
            continue
        earlier.append(restrictions)
        reachable.append((price, qualifier))
    return reachable


def _qualifier(restrictions: dict[str, Any], earlier: list[dict[str, Any]]) -> str | None:
    """Conditions as text, e.g. "≥ 32 A Mon–Fri 09:00–18:00"; None if they leave no room."""
    parts = []
    for lo_key, hi_key, divisor, lo_text, hi_text, range_text in _BOUNDS:
        lo, hi = restrictions.get(lo_key), restrictions.get(hi_key)
        # An earlier element limited only by max_X catches everything below X, so this one starts
        # at X (the spec's max_power and max_duration ladders); likewise min_X from above.
        for other in earlier:
            if other.keys() == {hi_key}:
                lo = other[hi_key] if lo is None else max(lo, other[hi_key])
            elif other.keys() == {lo_key}:
                hi = other[lo_key] if hi is None else min(hi, other[lo_key])
        if lo is not None and hi is not None and lo >= hi:
            return None
        values = {"lo": _plain(lo, divisor), "hi": _plain(hi, divisor)}
        if lo is not None:
            parts.append((range_text if hi is not None else lo_text).format(**values))
        elif hi is not None:
            parts.append(hi_text.format(**values))
    if days := restrictions.get("day_of_week"):
        parts.append(_day_ranges(days))
    start, end = restrictions.get("start_time"), restrictions.get("end_time")
    if start and end:
        parts.append(f"{start}–{end}")  # end < start wraps past midnight (§4.4)
    elif start or end:
        parts.append(f"from {start}" if start else f"until {end}")
    if start_date := restrictions.get("start_date"):
        parts.append(f"from {start_date}")
    if end_date := restrictions.get("end_date"):
        parts.append(f"before {end_date}")  # end_date is exclusive (§4.4)
    return " ".join(parts)


def _day_ranges(days: tuple[int, ...]) -> str:
    """(0, 1, 2, 3, 4) → "Mon–Fri"; (0, 2, 3) → "Mon/Wed–Thu"."""
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][1] + 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    names = [day.title()[:3] for day in _DAYS]
    return "/".join(names[a] if a == b else f"{names[a]}–{names[b]}" for a, b in runs)


def _reads_per_minute(hourly_prices: list[Decimal]) -> bool:
    per_minute = [price / 60 for price in hourly_prices if price]
    return bool(per_minute) and all(
        price >= _PER_MINUTE_FROM and price == price.quantize(_STEP) for price in per_minute
    )


def _limit(label: str, raw: Any, incl_vat: bool, currency: str) -> str | None:
    """min_price/max_price: 2.2.x Price {excl_vat, incl_vat}, 2.3.0 PriceLimit {before_taxes,
    after_taxes}, on the same tax basis as the prices."""
    if not isinstance(raw, dict):
        return None
    before = _decimal(raw.get("excl_vat", raw.get("before_taxes")))
    after = _decimal(raw.get("incl_vat", raw.get("after_taxes")))
    value, note = before, ""
    if incl_vat:
        value, note = (after, "") if after is not None else (before, " excl. taxes")
    if value is None or (label == "min" and value <= 0):
        return None
    return f"{label} {_money(value, currency)}{note}"


def tax_included(tariff: dict[str, Any]) -> str | None:
    """Whether a tariff's prices include taxes: ``YES``, ``NO`` or ``N/A`` (no taxes apply), as
    2.3.0 ``tax_included`` says (§4.9; spelling forgiven); ``NO`` for 2.1.1 and 2.2.x, whose
    prices are excl. VAT (§4.4); None when a value says nothing we can read."""
    value = tariff.get("tax_included")
    if value is None:
        return "NO"
    if not isinstance(value, str):
        return None
    return _TAX_INCLUDED.get(value.strip().upper())


def _tax_note(value: Any) -> str:
    if value is None:
        return "excl. VAT"  # 2.1.1 and 2.2.x: PriceComponent.price is excl. VAT (§4.4)
    treatment = _TAX_INCLUDED.get(value.strip().upper()) if isinstance(value, str) else None
    return _TAX_NOTES.get(treatment or "", "taxes not stated")  # 2.3.0 (§4.9)


def _alt_text(raw: Any) -> str:
    """English ``tariff_alt_text`` if there is one, else the first (DisplayText list)."""
    texts: list[tuple[Any, str]] = [
        (item.get("language"), item["text"].strip())
        for item in (raw if isinstance(raw, list) else [])
        if isinstance(item, dict) and isinstance(item.get("text"), str) and item["text"].strip()
    ]
    english = [text for language, text in texts if str(language).lower().startswith("en")]
    return (english or [text for _, text in texts] or [""])[0]


def _decimal(value: Any) -> Decimal | None:
    """A JSON number or numeric string; None for anything else (bool, NaN, absurd sizes)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value).strip())  # str(float) is its shortest form: 0.1 stays 0.1
    except InvalidOperation:
        return None
    return number if number.is_finite() and abs(number) < _MAX_NUMBER else None


def _money(amount: Decimal, currency: str) -> str:
    text = f"{amount.quantize(_STEP, ROUND_HALF_EVEN) + 0:f}".rstrip("0")  # + 0: no "-0.00"
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction:0<2}" + (f" {currency}" if currency else "")


def _plain(value: Decimal | None, divisor: int) -> str:
    """A restriction value in its display unit without trailing zeros: 1800 s → "30"."""
    if value is None:
        return ""
    shown = (value / divisor).quantize(Decimal("0.01"), ROUND_HALF_EVEN).normalize()
    return f"{shown + 0:f}"


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
