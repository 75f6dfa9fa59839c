"""A price in every discovery answer (issue 13): the session a driver asks about, priced on each
kind of connector of each result, the location's cheapest, ``sort=price`` and ``max_price``.

Parameters (the same names on nearby, viewport, search and detail, and in the along-route body):
``energy_kwh`` (the session; without it nothing is priced), ``car_max_power_kw`` (the car's
limit: the filter ``max_power_kw`` already means "a connector of at most"), ``start_at`` (RFC
3339; default now, to the minute), ``parking_min`` (plugged in after charging), ``sort=price``,
``max_price`` with ``currency``. There is no currency conversion: ``max_price`` keeps prices in
``currency`` only, and ``sort=price`` ranks prices in ``currency`` (without it: in the currency
of the first priced result) first, other currencies after them, unpriced locations last.

Sorting and filtering by price need the prices of more locations than a page shows: the
endpoints then look at up to ``PRICE_CANDIDATES`` candidates in their own order (nearest first,
route order, the viewport's sample order, relevance) and rank or filter those. That bound is in
each endpoint's documentation.

Costs: tariffs are decoded once per (row, ``last_updated``) and each (tariff list, connector
power, session, local start minute) is priced once, in LRU caches per process: a network has a
few tariffs for thousands of locations, so a page is priced from the caches once warm.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final, NamedTuple

from litestar.di import NamedDependency
from litestar.params import QueryParameter

from app.api.errors import InvalidParameter
from app.api.pricer import GroupPrice, PriceAsk, PricedTariff, Pricer, cheaper
from app.api.schemas import ConnectorGroup, LocationSummary
from app.domain.filters import NO_FILTERS, Filters
from app.price.quote import SessionAsk
from app.services import Services
from app.store.prices import ConnectorTariffs, TariffRef

Row = dict[str, Any]

PRICE_CANDIDATES: Final = 500
MAX_ENERGY_KWH: Final = 1000
MAX_CAR_POWER_KW: Final = 2000
MIN_ENERGY_KWH: Final = 1  # less charges in under a second at the fastest chargers
MAX_PARKING_MIN: Final = 24 * 60
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)
DEFAULT_DETAIL_ENERGY_KWH: Final = Decimal(30)  # "a typical session" in the detail


def _decimal(name: str, value: float | None, low: float, high: float, *, above: bool) -> Decimal:
    assert value is not None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise InvalidParameter(name, "must be a number") from None
    if not number.is_finite() or number > high or (number <= low if above else number < low):
        bound = f"more than {low:g}" if above else f"at least {low:g}"
        raise InvalidParameter(name, f"must be {bound} and at most {high:g}, got {value}")
    return number


_RFC_3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})?"
)


def _timestamp(name: str, value: str) -> datetime:
    text = value.strip()
    if not _RFC_3339.fullmatch(text):
        raise InvalidParameter(name, f"must be an RFC 3339 date-time, got {value[:40]!r}")
    try:
        moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameter(name, f"must be an RFC 3339 date-time, got {value[:40]!r}") from None
    if moment.tzinfo is None:
        raise InvalidParameter(name, "needs a UTC offset (e.g. 2026-12-01T18:00:00+01:00 or Z)")
    if not EARLIEST <= moment <= LATEST:
        raise InvalidParameter(name, f"must be between {EARLIEST:%Y} and {LATEST:%Y}")
    return moment.astimezone(UTC)


def build_price_ask(
    *,
    energy_kwh: float | None,
    car_max_power_kw: float | None,
    start_at: str | None,
    parking_min: float | None,
    sort: str | None,
    max_price: float | None,
    currency: str | None,
    prefix: str = "",
    default_energy_kwh: Decimal | None = None,
) -> PriceAsk | None:
    """The price question, checked (400 naming the parameter); None when nothing is asked."""

    def name(field: str) -> str:
        return prefix + field

    sort_by_price = False
    if sort is not None:
        if sort.strip().lower() != "price":
            raise InvalidParameter(
                name("sort"),
                f"only 'price' is supported (the default is this endpoint's own "
                f"order), got {sort[:20]!r}",
            )
        sort_by_price = True
    limit = None
    if max_price is not None:
        limit = _decimal(name("max_price"), max_price, 0, 1_000_000, above=False)
    code = None
    if currency is not None:
        code = currency.strip().upper()
        if len(code) != 3 or not code.isalpha() or not code.isascii():
            raise InvalidParameter(name("currency"), f"must be an ISO 4217 code, got {currency!r}")
    if limit is not None and code is None:
        raise InvalidParameter(
            name("currency"), "is needed with max_price (prices are never converted)"
        )
    asked = energy_kwh is not None
    if not asked and default_energy_kwh is None:
        for field, given in (
            ("sort", sort_by_price),
            ("max_price", limit is not None),
            ("car_max_power_kw", car_max_power_kw is not None),
            ("start_at", start_at is not None),
            ("parking_min", parking_min is not None),
            ("currency", code is not None),
        ):
            if given:
                raise InvalidParameter(name(field), "needs energy_kwh: the session to price")
        return None
    energy = (
        _decimal(name("energy_kwh"), energy_kwh, MIN_ENERGY_KWH, MAX_ENERGY_KWH, above=False)
        if energy_kwh is not None
        else default_energy_kwh
    )
    assert energy is not None
    car = None
    if car_max_power_kw is not None:
        car = _decimal(name("car_max_power_kw"), car_max_power_kw, 0, MAX_CAR_POWER_KW, above=True)
    parking = Decimal(0)
    if parking_min is not None:
        parking = _decimal(name("parking_min"), parking_min, 0, MAX_PARKING_MIN, above=False)
    start = _timestamp(name("start_at"), start_at) if start_at is not None else None
    return PriceAsk(SessionAsk(energy, car, parking), start, sort_by_price, limit, code)


async def provide_price_ask(
    energy_kwh: Annotated[
        float | None,
        QueryParameter(
            description="Price a session of this many kWh on each kind of connector (adds "
            "`price` to each connector group and the cheapest to the location).",
        ),
    ] = None,
    car_max_power_kw: Annotated[
        float | None,
        QueryParameter(
            description="The car's maximum charging power (kW): the session charges at the "
            "lower of it and the connector's. Default: the connector's."
        ),
    ] = None,
    start_at: Annotated[
        str | None,
        QueryParameter(
            description="When the session starts (RFC 3339); time restrictions are read in "
            "each location's own time zone. Default: now."
        ),
    ] = None,
    parking_min: Annotated[
        float | None,
        QueryParameter(description="Minutes plugged in after charging (parking/idle fees)."),
    ] = None,
    sort: Annotated[
        str | None,
        QueryParameter(
            description="price: cheapest first (incl. VAT; as published where the VAT is not "
            f"known); unpriced last. Ranks up to {PRICE_CANDIDATES} candidates."
        ),
    ] = None,
    max_price: Annotated[
        float | None,
        QueryParameter(
            description="Only locations whose price for the session is at most this (incl. VAT, "
            "in `currency`)."
        ),
    ] = None,
    currency: Annotated[
        str | None,
        QueryParameter(
            description="ISO 4217 code max_price and sort=price are in (no conversion)."
        ),
    ] = None,
) -> PriceAsk | None:
    return build_price_ask(
        energy_kwh=energy_kwh,
        car_max_power_kw=car_max_power_kw,
        start_at=start_at,
        parking_min=parking_min,
        sort=sort,
        max_price=max_price,
        currency=currency,
    )


async def provide_detail_price_ask(
    services: NamedDependency[Services],
    energy_kwh: Annotated[
        float | None,
        QueryParameter(description="The session priced on each connector (default 30 kWh)."),
    ] = None,
    car_max_power_kw: Annotated[
        float | None, QueryParameter(description="The car's maximum charging power (kW).")
    ] = None,
    start_at: Annotated[
        str | None, QueryParameter(description="When the session starts (RFC 3339); default now.")
    ] = None,
    parking_min: Annotated[
        float | None, QueryParameter(description="Minutes plugged in after charging.")
    ] = None,
) -> PriceAsk:
    ask = build_price_ask(
        energy_kwh=energy_kwh,
        car_max_power_kw=car_max_power_kw,
        start_at=start_at,
        parking_min=parking_min,
        sort=None,
        max_price=None,
        currency=None,
        default_energy_kwh=DEFAULT_DETAIL_ENERGY_KWH,
    )
    assert ask is not None
    return ask


def _group_matches(group: GroupPrice, filters: Filters) -> bool:
    """Whether a priced kind of connector is one the EVSE filters ask for."""
    if filters.standards and group.standard not in filters.standards:
        return False
    if filters.power_class and not group.power_type.startswith(filters.power_class):
        return False
    kw = group.max_power_kw
    if filters.min_power_kw is not None and (kw is None or kw < filters.min_power_kw):
        return False
    return not (filters.max_power_kw is not None and (kw is None or kw > filters.max_power_kw))


def attach(
    summary: LocationSummary,
    groups: list[GroupPrice],
    ask: PriceAsk,
    filters: Filters,
) -> GroupPrice | None:
    """Sets ``price`` on the summary's connector groups and the location; returns its cheapest
    (among the kinds of connector the filters ask for, in ``currency`` when one is asked)."""
    by_kind = {(g.standard, g.power_type, g.max_power_kw): g for g in groups}
    for connector_group in summary.connector_groups:
        found = by_kind.get(_kind(connector_group))
        connector_group.price = found.wire if found else None
    cheapest: GroupPrice | None = None
    for group in groups:
        if _group_matches(group, filters) and (
            cheapest is None or cheaper(group.quote, cheapest.quote, ask.currency)
        ):
            cheapest = group
    summary.price = cheapest.wire if cheapest else None
    return cheapest


def attach_groups(summary: LocationSummary, groups: list[GroupPrice], ask: PriceAsk) -> None:
    attach(summary, groups, ask, NO_FILTERS)


def _kind(group: ConnectorGroup) -> tuple[str, str, float | None]:
    return (group.standard, group.power_type, group.max_power_kw)


def rank(
    items: list[tuple[LocationSummary, GroupPrice | None]], ask: PriceAsk
) -> list[LocationSummary]:
    """``max_price`` and ``sort=price`` over priced summaries, kept in their order otherwise."""
    if ask.max_price is not None:
        items = [
            (s, g)
            for s, g in items
            if g is not None
            and g.quote.currency == ask.currency
            and g.quote.comparable <= ask.max_price
        ]
    if ask.sort:
        primary = ask.currency or next((g.quote.currency for _, g in items if g), None)

        def key(indexed: tuple[int, tuple[LocationSummary, GroupPrice | None]]) -> tuple[Any, ...]:
            index, (_, g) = indexed
            if g is None:
                return (2, "", Decimal(0), index)
            other = g.quote.currency != primary
            return (int(other), g.quote.currency if other else "", g.quote.comparable, index)

        items = [item for _, item in sorted(enumerate(items), key=key)]
    return [s for s, _ in items]


async def price_summaries(
    pricer: Pricer,
    rows: list[dict[str, Any]],
    summaries: list[LocationSummary],
    ask: PriceAsk,
    filters: Filters,
    now: datetime,
) -> list[tuple[LocationSummary, GroupPrice | None]]:
    found = await pricer.location_prices(rows, ask, now)
    return [
        (summary, attach(summary, found.get(row["pk"], []), ask, filters))
        for row, summary in zip(rows, summaries, strict=True)
    ]


class DetailPrices(NamedTuple):
    """The detail's session priced on each connector, on each kind, and the cheapest."""

    connectors: dict[tuple[str, str], GroupPrice | None]  # (EVSE uid, connector id)
    groups: list[GroupPrice]
    tariffs: dict[str, PricedTariff]  # by stored (upper-cased) tariff id
    ask: PriceAsk


async def price_detail(
    pricer: Pricer,
    location: Row,
    evses: list[Row],
    tariffs: list[Row],
    ask: PriceAsk,
    now: datetime,
) -> DetailPrices:
    refs = {t["tariff_id"]: TariffRef(t["row_id"], t["last_updated"]) for t in tariffs}
    decoded = await pricer.decoded(list(refs.values()))
    start = ask.start(now)
    by_connector: dict[tuple[str, str], GroupPrice | None] = {}
    by_kind: dict[tuple[str, str, float | None], GroupPrice] = {}
    for evse in evses:
        for connector in evse["connectors"]:
            linked = tuple(refs[t] for t in connector["tariff_ids"] if t in refs)
            kind = ConnectorTariffs(
                location["pk"],
                location["time_zone"],
                connector["standard"],
                connector["power_type"],
                connector["max_power_kw"],
                linked,
            )
            found = pricer.quote_connector(kind, decoded, ask, start) if linked else None
            by_connector[(evse["uid_raw"], connector["id"])] = found
            key = (kind.standard, kind.power_type, kind.max_power_kw)
            if found is not None and (
                key not in by_kind or cheaper(found.quote, by_kind[key].quote, ask.currency)
            ):
                by_kind[key] = found
    return DetailPrices(
        by_connector,
        list(by_kind.values()),
        {tid: decoded[ref] for tid, ref in refs.items() if ref in decoded},
        ask,
    )
