"""Registry pricing free text → OCPI 2.2.1-shaped Tariff dicts (``"basis": "registry_text"``).

Sources: the US AFDC exports' ``EV Pricing`` column ("Free", "$0.40 per kWh", "$1.50 per
session; $0.75 per kWh", "$0.30 per kWh; $2 per hour idle fee", "$2.00/Hr Parking Fee"), Open
Charge Map ``UsageCost`` ("0,47€/kWh", "1€/h", "10€ pauschal") and the UK National Chargepoint
Registry payment fields ("20p per KW/h", "£6 for 30 minutes", "20p/Kwh, 50p minimum charge").
Each text gives either a ``RegistryTariff`` (the tariff, the original text, notes on what was
read into it) or a ``RegistryUnparsed`` with the reason; nothing is dropped silently.

How text becomes OCPI (ocpi.md §4.4):

* "free" (also kostenlos, gratis, Spende, 0) alone → the spec's Free of Charge tariff, one FLAT
  0.00 component (mod_tariffs Free of Charge example);
* per session / session, initiation, connection or start fee / pauschal → FLAT; several add up;
* per kWh → ENERGY; "(or part of)" a kWh → ``step_size`` 1000 Wh;
* per hour or per minute, and parking fees ("$2/Hr Parking Fee", "Parkgebühren 1€/h") bill the
  time plugged in, so they become TIME *and* PARKING_TIME at that price; an idle fee bills only
  the time after charging, PARKING_TIME; "£6 for 30 minutes" is £12/h in blocks of 1800 s;
* "for the first 4 hours … thereafter" / "after 4 hours" → ``max_duration``/``min_duration``;
  "≥60kW" / "<60kW" → ``min_power``/``max_power``;
* "minimum charge" → ``min_price``, "a maximum of £18 per session" → ``max_price``;
* a price "for public" or "for non-members" is the one we keep; prices for staff, guests or
  permit holders are left out (with a note) when a public price exists, else refused;
* "+ tax", time limits, "donations encouraged", a parking fee of unstated amount → notes.

Refused: price ranges ("$0.00-$5.00/Hr Variable Parking Fee"), approximate or per-day prices,
text that only points elsewhere ("See www.cpsgenie.com"), tiers that cannot be expressed (a fee
added once 25 kWh are drawn, an idle fee after a grace period), and any words we do not know.
The VAT is never stated, so amounts incl. VAT stay unknown when priced (``lenient``). Numbers
in the dicts are Decimal (exact); encode with msgspec ``decimal_format="number"`` for JSON.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Literal

import msgspec

TimeBilling = Literal["CONNECTED", "CHARGING", "IDLE"]


class RegistryTariff(msgspec.Struct, frozen=True):
    tariff: dict[str, Any]
    source_text: str
    notes: tuple[str, ...] = ()


class RegistryUnparsed(msgspec.Struct, frozen=True):
    source_text: str
    reason: str


RegistryPricing = RegistryTariff | RegistryUnparsed


def parse_afdc_ev_pricing(text: str, *, tariff_id: str = "registry_text") -> RegistryPricing:
    """The AFDC ``EV Pricing`` column (US, prices in USD)."""
    return parse_pricing_text(text, currency="USD", tariff_id=tariff_id)


def parse_ocm_usage_cost(
    text: str, *, currency: str = "EUR", tariff_id: str = "registry_text"
) -> RegistryPricing:
    """Open Charge Map ``UsageCost``; ``currency`` of the POI's country unless a symbol says."""
    return parse_pricing_text(text, currency=currency, tariff_id=tariff_id)


def parse_uk_ncr_payment(
    row: Mapping[str, str], *, tariff_id: str = "registry_text"
) -> RegistryPricing:
    """The UK National Chargepoint Registry's ``paymentRequired``/``paymentRequiredDetails``
    and ``parkingFeesFlag``/``parkingFeesDetails`` columns (GBP)."""
    required = (row.get("paymentRequired") or "").strip()
    details = _clean(row.get("paymentRequiredDetails") or "")
    parking_flag = (row.get("parkingFeesFlag") or "").strip()
    parking = _clean(row.get("parkingFeesDetails") or "")
    source = "; ".join(
        f"{key}={value}"
        for key, value in (
            ("paymentRequired", required),
            ("paymentRequiredDetails", details),
            ("parkingFeesFlag", parking_flag),
            ("parkingFeesDetails", parking),
        )
        if value
    )
    if details:
        text = details
    elif required == "0":
        text = "free"
    elif required == "1":
        return RegistryUnparsed(source, "payment required, but no price given")
    else:
        return RegistryUnparsed(source, "no payment information")
    notes: list[str] = []
    if parking and not _has_amount(parking) and parking.lower().startswith("free"):
        notes.append(f"parking: {parking}")  # "Free Parking", "Free for 2 hours"
    elif parking:
        text = f"{text}; {parking if _has_amount(parking) else 'parking fee'}"
    elif parking_flag == "1":
        text = f"{text}; parking fee"
    parsed = parse_pricing_text(text, currency="GBP", tariff_id=tariff_id)
    if isinstance(parsed, RegistryUnparsed):
        return RegistryUnparsed(source, parsed.reason)
    return RegistryTariff(parsed.tariff, source, (*parsed.notes, *notes))


def parse_pricing_text(
    text: str, *, currency: str, tariff_id: str = "registry_text"
) -> RegistryPricing:
    """Any registry's pricing text; ``currency`` unless a symbol in the text says otherwise."""
    try:
        return _Parser(text, currency).tariff(tariff_id)
    except _Refused as refusal:
        return RegistryUnparsed(text, str(refusal))


# ---- vocabulary ------------------------------------------------------------------------------

_SYMBOLS: Final = {"$": "$", "£": "GBP", "€": "EUR", "eur": "EUR", "usd": "USD", "gbp": "GBP"}
# "$" is the local dollar where the registry's currency is one, else USD.
_DOLLARS: Final = frozenset({"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "TWD"})
_AMOUNT: Final = re.compile(
    r"(?P<sym>[$£€])\s*(?P<num>\d+(?:[.,:]\d{1,2})?)(?:p(?![a-z]))?"
    r"|(?P<num2>\d+(?:[.,]\d{1,4})?)\s*(?P<sym2>€|eur\b|usd\b|gbp\b|p\b)",
    re.I,
)
_URL: Final = re.compile(r"(?:https?://|www\.)[^\s;,]*[^\s;,.]", re.I)
_RANGE: Final = re.compile(r"\d\s*(?:-|–|\.\.)\s*[$£€]?\s*\d+(?:[.,]\d+)?\s*(?:[$£€]|/|eur)", re.I)
_SPLIT: Final = re.compile(
    r"\s*(?:;|,(?!\d)|\+|\bplus\b|\band\b(?=\s*[$£€\d])|\bor\b(?=\s+a\s+max)"
    r"|\.\s+(?=[A-Z])|\bthen\b(?=\s*[$£€\d]))\s*",
    re.I,
)
_FREE: Final = re.compile(
    r"^(?:free(?: of charge| to use| parking)?|kostenlos|gratis|frei|no charge|0(?:[.,]0+)?"
    r"|spende|donations?(?: encouraged)?)$"
)
_DONATION: Final = re.compile(r"^(?:spende|donations?(?: encouraged)?)$")
_LIMIT_NOTE: Final = re.compile(
    r"^(?:\w+ hours? (?:limit|maximum(?: charging session)?)|\d+ ?h(?:ou)?rs? max(?:imum)?)$"
)
_PARKING_UNKNOWN: Final = re.compile(
    r"^(?:parking fees?|paid lot|(?:usual |standard )?(?:car )?park(?:ing)? (?:fees|charges) "
    r"(?:may )?apply|pay (?:and|&) display(?: car park| rates may apply| fees may apply)?"
    r"|check (?:car park|site|details).*|see (?:local )?car park.*|as per signage"
    r"|according to signage|car park charges apply)$"
)
_ELSEWHERE: Final = re.compile(
    r"^(?:see|visit|go to|please see|please check|tariff applied|requires? app|pay as you go"
    r"|direct payment|eoapp)\b"
)
_TAX: Final = re.compile(r"^(?:plus )?(?:tax|taxes|vat)$")
_FILLER: Final = re.compile(
    r"\b(?:pay as you go|payg|if|is|register at|followed by|rapid chargers require a fee"
    r"|initial(?:ly)?|derzeit noch|bisher|currently|tariff|energy fee|fee|charge|rate|price"
    r"|the|of|a|an|at|for|l[123]|dc)\b|[:()]",
)
_ENERGY: Final = re.compile(r"(?:per|/|a|pro)\s*(?:per\s*)?k\s*w\s*/?\s*h\b|\bper\s+kwh\b")
_PART_KWH: Final = re.compile(r"\(?or part (?:of|thereof)\)?")
_MINUTE: Final = re.compile(r"(?:per|/|a|pro)\s*min(?:ute)?s?\b")
_HOUR: Final = re.compile(
    r"(?:per|/|an?|each|pro)\s*(?:additional\s+)?(?:hour|hr|h|stunde)\b|\beach hour after\b"
)
_BLOCK: Final = re.compile(
    r"(?:\bfor|\bper|/)\s*(?P<n>\d+)\s*(?P<unit>min(?:ute)?s?|h(?:ou)?rs?|hours?)\b"
)
_FLAT: Final = re.compile(
    r"\bper\s+(?:charging\s+)?session\b|\b(?:session|initiation|connection|start(?:ing)?"
    r"|transaction|fixed)\s+(?:fee|charge)\b|\bpauschal\b|\bper charge\b|\bpro ladevorgang\b"
)
_MINIMUM: Final = re.compile(r"\bminimum(?:\s+(?:charge|fee|price))?\b")
_MAXIMUM: Final = re.compile(r"\bmaximum(?:\s+of)?\b")
_IDLE: Final = re.compile(r"\bidle(?:\s+(?:fee|time|parking))?\b")
_PARKING: Final = re.compile(r"\bpark(?:ing)?\s*(?:fee|rate)?\b|\bparkgebühr(?:en)?\b")
_CHARGING: Final = re.compile(r"\bcharging\b")
_FIRST: Final = re.compile(
    r"\bfor\s+(?:the\s+)?(?:first|1st)\s+(?:(?P<n>\d+)\s*(?:hours?|hrs?)|hour)\b"
)
_AFTER: Final = re.compile(r"\bafter\s+(?P<n>\d+)\s*(?:hours?|hrs?)\b")
_FOLLOWING: Final = re.compile(r"\b(?:following|thereafter|afterwards|additional|after)\b")
_POWER: Final = re.compile(r"(?P<op>>=|≥|>|<=|<)\s*(?P<kw>\d+(?:[.,]\d+)?)\s*kw\b")
_GROUP: Final = re.compile(
    r"\b(?:for|to)\s+(?:the\s+)?(?P<group>public|non[- ]?[a-z -]+?|[a-z -]+?)(?:\s+only)?$"
)
_WITH_CARD: Final = re.compile(r"\bwith (?:swipe |rfid )?card\b")


class _Refused(Exception):
    pass


@dataclass
class _Hourly:
    price_per_h: Decimal
    billing: TimeBilling
    step_s: int = 1
    min_duration_s: int | None = None
    max_duration_s: int | None = None
    following: bool = False  # "… per hour thereafter": after the tier before it


@dataclass
class _Priced:
    kind: Literal["flat", "energy", "hourly", "min", "max"]
    amount: Decimal
    hourly: _Hourly | None = None
    step_wh: int = 1
    min_power_kw: Decimal | None = None
    max_power_kw: Decimal | None = None
    min_duration_s: int | None = None
    group: str | None = None  # a user group other than the public


@dataclass
class _Parser:
    text: str
    currency: str
    notes: list[str] = field(default_factory=list)
    priced: list[_Priced] = field(default_factory=list)
    free: bool = False

    def tariff(self, tariff_id: str) -> RegistryTariff:
        cleaned = _clean(self.text)
        if not cleaned:
            raise _Refused("no pricing text")
        for url in _URL.findall(cleaned):
            self.notes.append(f"refers to {url}")
        cleaned = _URL.sub(" ", cleaned)
        if _RANGE.search(cleaned):
            raise _Refused("a price range, not one price")
        if "~" in cleaned or re.search(r"\bvariable\b", cleaned, re.I):
            raise _Refused("an approximate or variable price")
        for clause in _clauses(cleaned):
            self._clause(clause)
        return RegistryTariff(self._build(tariff_id), self.text, tuple(self.notes))

    # ---- one clause --------------------------------------------------------------------------

    def _clause(self, text: str) -> None:
        original = " ".join(text.split())
        clause = original.lower().strip(" .")
        if not clause:
            return
        if _ELSEWHERE.match(clause) and not _AMOUNT.search(clause):
            raise _Refused(f"no price given ({original!r})")
        if _TAX.match(clause):
            self.notes.append("taxes are added on top of these prices")
            return
        if _LIMIT_NOTE.match(clause):
            self.notes.append(f"not a price: {original!r}")
            return
        if _PARKING_UNKNOWN.match(clause):
            self.notes.append(f"a parking fee of unstated amount is not included ({original!r})")
            return
        if _FREE.match(" ".join(_FILLER.sub(" ", clause).split())):
            self._free_clause(clause, original, None)
            return
        clause, group = _group(clause)
        if _WITH_CARD.search(clause):
            self.notes.append(f"needs a card: {original!r}")
            clause = _WITH_CARD.sub(" ", clause)
        amount_match = _AMOUNT.search(clause)
        if amount_match is None:
            self._free_clause(clause, original, group)
            return
        amount, currency = _amount(amount_match)
        if currency is not None:
            self._currency(currency)
        rest = clause[: amount_match.start()] + " " + clause[amount_match.end() :]
        if not amount and not _unit_words(rest):
            self._free_clause("free", original, group)
            return
        self.priced.append(self._priced(amount, rest, original, group))

    def _free_clause(self, clause: str, original: str, group: str | None) -> None:
        words = " ".join(_FILLER.sub(" ", clause).split())
        if not _FREE.match(words):
            raise _Refused(f"not understood: {original!r}")
        if _DONATION.match(words):
            self.notes.append("donations asked for")
        if group is not None and not _is_public(group):
            self.notes.append(f"free only for {group}")
            self.priced.append(_Priced("flat", Decimal(0), group=group))
            return
        self.free = True

    def _priced(self, amount: Decimal, rest: str, original: str, group: str | None) -> _Priced:
        power_min = power_max = None
        for match in _POWER.finditer(rest):
            kw = Decimal(match["kw"].replace(",", "."))
            if match["op"] in (">=", "≥", ">"):
                power_min = kw
            else:
                power_max = kw
        rest = _POWER.sub(" ", rest)
        priced: _Priced
        if _MINIMUM.search(rest):
            priced, rest = _Priced("min", amount), _MINIMUM.sub(" ", rest)
        elif _MAXIMUM.search(rest) and _FLAT.search(rest):
            priced, rest = _Priced("max", amount), _FLAT.sub(" ", _MAXIMUM.sub(" ", rest))
        elif _ENERGY.search(rest):
            step = 1000 if _PART_KWH.search(rest) else 1
            priced = _Priced("energy", amount, step_wh=step)
            rest = _PART_KWH.sub(" ", _ENERGY.sub(" ", rest))
            after = _AFTER.search(rest)
            if after:
                priced.min_duration_s = int(after["n"]) * 3600
                self.notes.append(f"no energy price is stated before {after.group(0)!r}")
                rest = _AFTER.sub(" ", rest)
        elif _FLAT.search(rest):
            priced, rest = _Priced("flat", amount), _FLAT.sub(" ", rest)
        else:
            hourly, rest = _hourly(amount, rest, original)
            priced = _Priced("hourly", hourly.price_per_h, hourly=hourly)
        priced.min_power_kw, priced.max_power_kw, priced.group = power_min, power_max, group
        leftover = " ".join(_FILLER.sub(" ", rest).split())
        if leftover.strip(" .,-/"):
            raise _Refused(f"not understood: {leftover!r} in {original!r}")
        return priced

    def _currency(self, currency: str) -> None:
        if currency == "$":
            currency = self.currency if self.currency in _DOLLARS else "USD"
        if currency != self.currency:
            if any(p.amount for p in self.priced):
                raise _Refused("two currencies")
            self.currency = currency

    # ---- the tariff --------------------------------------------------------------------------

    def _build(self, tariff_id: str) -> dict[str, Any]:
        public = [p for p in self.priced if p.group is None or _is_public(p.group)]
        private = [p for p in self.priced if p not in public]
        if private and not public and not self.free:
            groups = ", ".join(sorted({p.group or "" for p in private}))
            raise _Refused(f"only a price for {groups} is given")
        for p in private:
            if p.amount:
                self.notes.append(f"price for {p.group} left out")
        limits = {p.kind: p.amount for p in public if p.kind in ("min", "max")}
        charges = [p for p in public if p.kind not in ("min", "max")]
        if not charges and not self.free:
            raise _Refused("no price for charging given")
        elements = _elements(charges) or [_free_element()]
        tariff: dict[str, Any] = {
            "id": tariff_id,
            "currency": self.currency,
            "basis": "registry_text",
            "elements": elements,
        }
        if "min" in limits:
            tariff["min_price"] = {"excl_vat": limits["min"]}
        if "max" in limits:
            tariff["max_price"] = {"excl_vat": limits["max"]}
        return tariff


def _elements(charges: list[_Priced]) -> list[dict[str, Any]]:
    """Restricted elements first (per dimension the first match wins, mod_tariffs), then one
    unrestricted element with the base prices."""
    restricted: list[dict[str, Any]] = []
    base: dict[str, tuple[Decimal, int]] = {}
    flat = Decimal(0)
    has_flat = False
    previous_tier_s: int | None = None
    for charge in charges:
        if charge.kind == "flat":
            flat, has_flat = flat + charge.amount, True
            continue
        restrictions: dict[str, Any] = {}
        if charge.min_power_kw is not None:
            restrictions["min_power"] = charge.min_power_kw
        if charge.max_power_kw is not None:
            restrictions["max_power"] = charge.max_power_kw
        components: list[tuple[str, Decimal, int]]
        if charge.kind == "energy":
            if charge.min_duration_s is not None:
                restrictions["min_duration"] = charge.min_duration_s
            components = [("ENERGY", charge.amount, charge.step_wh)]
        else:
            hourly = charge.hourly
            assert hourly is not None
            dimensions = {
                "CONNECTED": ("TIME", "PARKING_TIME"),
                "CHARGING": ("TIME",),
                "IDLE": ("PARKING_TIME",),
            }[hourly.billing]
            components = [(d, hourly.price_per_h, hourly.step_s) for d in dimensions]
            if hourly.max_duration_s is not None:
                restrictions["max_duration"] = hourly.max_duration_s
                previous_tier_s = hourly.max_duration_s
            if hourly.min_duration_s is not None:
                restrictions["min_duration"] = hourly.min_duration_s
            if hourly.following:
                if previous_tier_s is None:
                    raise _Refused("a price for 'after' without the tier it follows")
                restrictions["min_duration"] = previous_tier_s
        if restrictions:
            restricted.append(
                {
                    "price_components": [_component(*c) for c in components],
                    "restrictions": restrictions,
                }
            )
            continue
        for dimension, price, step in components:
            if dimension in base:
                # Two unrestricted fees on the same time add up (a parking fee and an idle fee).
                old_price, old_step = base[dimension]
                if old_step != step or dimension == "ENERGY":
                    raise _Refused(f"two prices for {dimension}")
                price += old_price
            base[dimension] = (price, step)
    base_components = [_component(d, price, step) for d, (price, step) in base.items()]
    if has_flat:
        base_components.insert(0, _component("FLAT", flat, 1))
    elements = list(restricted)
    if base_components:
        elements.append({"price_components": base_components})
    return elements


def _component(dimension: str, price: Decimal, step: int) -> dict[str, Any]:
    return {"type": dimension, "price": price, "step_size": step}


def _free_element() -> dict[str, Any]:
    # The spec's Free of Charge tariff (mod_tariffs): one FLAT component of 0.00.
    return {"price_components": [_component("FLAT", Decimal("0.00"), 1)]}


def _hourly(amount: Decimal, rest: str, original: str) -> tuple[_Hourly, str]:
    billing: TimeBilling = "CONNECTED"
    if _IDLE.search(rest):
        billing, rest = "IDLE", _IDLE.sub(" ", rest)
        if "grace" in rest:
            raise _Refused("an idle fee after a grace period cannot be expressed in OCPI")
    elif _PARKING.search(rest):
        rest = _PARKING.sub(" ", rest)  # a parking fee bills the whole stay: CONNECTED
    elif _CHARGING.search(rest):
        billing, rest = "CHARGING", _CHARGING.sub(" ", rest)
    following = bool(_FOLLOWING.search(rest))
    first = _FIRST.search(rest)
    max_duration = None
    if first:
        max_duration = int(first["n"] or 1) * 3600
        rest = _FIRST.sub(" ", rest)
    after = _AFTER.search(rest)
    min_duration = None
    if after:
        min_duration = int(after["n"]) * 3600
        rest = _AFTER.sub(" ", rest)
    following = following and min_duration is None
    rest = _FOLLOWING.sub(" ", rest)
    block = _BLOCK.search(rest)
    if block:
        minutes = int(block["n"]) * (1 if block["unit"].startswith("min") else 60)
        rest = _BLOCK.sub(" ", rest)
        price, step = amount * 60 / minutes, minutes * 60
        if price != price.quantize(Decimal("0.0001")):
            raise _Refused(f"a price per {block['n']} {block['unit']} is no exact hourly price")
    elif _MINUTE.search(rest):
        price, step, rest = amount * 60, 1, _MINUTE.sub(" ", rest)
    elif _HOUR.search(rest):
        price, step, rest = amount, 1, _HOUR.sub(" ", rest)
    elif first and not first["n"]:
        price, step = amount, 1  # "£4.50 for the first hour": that hour's rate
    else:
        raise _Refused(f"no unit for the amount in {original!r}")
    if "per day" in rest or "pro tag" in rest:
        raise _Refused("a price per day")
    hourly = _Hourly(price, billing, step, min_duration, max_duration, following)
    return hourly, rest


def _group(clause: str) -> tuple[str, str | None]:
    """Split off "for <user group>" / "to <user group>"; durations are not groups."""
    match = _GROUP.search(clause)
    if match is None:
        return clause, None
    group = match["group"].strip()
    if re.match(r"(?:the\s+)?(?:first|1st|second|\d|each|every|up to)", group) or re.search(
        r"\b(?:hours?|hrs?|minutes?|mins?|kwh)\b", group
    ):
        return clause, None
    return clause[: match.start()].strip(), group


def _is_public(group: str) -> bool:
    return group == "public" or group.startswith("non")


def _clauses(text: str) -> list[str]:
    """Split at separators, and before every further amount in a piece ("£4.50 for the first
    hour £5.00 each hour after")."""
    clauses: list[str] = []
    for piece in _SPLIT.split(text):
        starts = [m.start() for m in _AMOUNT.finditer(piece)]
        cuts = [0, *starts[1:], len(piece)]
        clauses.extend(piece[a:b] for a, b in itertools.pairwise(cuts))
    return [c for c in clauses if c.strip()]


def _amount(match: re.Match[str]) -> tuple[Decimal, str | None]:
    symbol = (match["sym"] or match["sym2"]).lower()
    digits = (match["num"] or match["num2"]).replace(",", ".").replace(":", ".")
    value = Decimal(digits)
    if symbol == "p":
        return value / 100, "GBP"  # pence
    return value, _SYMBOLS.get(symbol)


def _unit_words(rest: str) -> bool:
    return any(p.search(rest) for p in (_ENERGY, _HOUR, _MINUTE, _FLAT, _BLOCK))


def _has_amount(text: str) -> bool:
    return _AMOUNT.search(text) is not None


def _clean(text: str) -> str:
    """Mojibake of £ (UTF-8 read as Latin-1), zero-width and no-break spaces, stray \\r."""
    repaired = text.replace("Â£", "£").replace("Â€", "€").replace("\u200b", "")
    return " ".join(repaired.replace("\xa0", " ").split())
