"""Prices for discovery answers, computed once (issue 13): stored tariffs decoded once per
(row, ``last_updated``), and each (tariff list, connector power, session, local start minute)
priced once, in LRU caches of the process (``Services.pricer``). A network has a few tariffs
for thousands of locations, so once warm a page is priced from the caches: one statement for
its connectors' tariff links, no decoding, no engine run.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Generic, Literal, TypeVar, get_args

from app.api.schemas import PriceQuote
from app.domain.tariffs import tariff_summary_incl_vat
from app.price import Tariff, Unpriceable, read_stored_tariff
from app.price.quote import Quote, SessionAsk, quote
from app.store import prices
from app.store.core import Store
from app.store.prices import ConnectorTariffs, StoredTariffRow, TariffRef

Basis = Literal["tariff", "registry_text", "demo"]
BASES: Final[tuple[Basis, ...]] = get_args(Basis)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A bounded mapping that forgets the least recently used entry (functools.lru_cache
    cannot take the unhashable tariffs beside the hashable key)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> V:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class PriceAsk:
    session: SessionAsk
    start_at: datetime | None = None
    sort: bool = False
    max_price: Decimal | None = None
    currency: str | None = None

    @property
    def reorders(self) -> bool:
        """Whether the answer depends on the prices of more locations than it shows."""
        return self.sort or self.max_price is not None

    def start(self, now: datetime) -> datetime:
        return self.start_at or now.replace(second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class PricedTariff:
    """A stored tariff, decoded once: the engine's Tariff, or why it cannot be priced."""

    tariff: Tariff | None
    reason: str | None
    tariff_id: str  # as the network spelled it
    basis: Basis
    summary: str | None  # as published (excl. VAT for OCPI 2.x)
    summary_incl_vat: str | None
    source_text: str | None = None  # registry_text: the register's own words


def priced_tariff(row: StoredTariffRow) -> PricedTariff:
    raw = row.raw if isinstance(row.raw, dict) else {}
    given = raw.get("basis")
    basis: Basis = next((b for b in BASES if b == given), "tariff")
    source_text = raw.get("source_text") if isinstance(raw.get("source_text"), str) else None
    summary_incl = tariff_summary_incl_vat(raw)
    read = read_stored_tariff(raw)
    if isinstance(read, Unpriceable):
        # A registry text we could not read says why in its own words (ingest.registries).
        unparsed = raw.get("unparsed_reason")
        reason = unparsed if isinstance(unparsed, str) and unparsed else read.reason
        return PricedTariff(
            None, reason, row.tariff_id_raw, basis, row.summary, summary_incl, source_text
        )
    return PricedTariff(
        read.tariff, None, row.tariff_id_raw, basis, row.summary, summary_incl, source_text
    )


@dataclass(frozen=True, slots=True)
class GroupPrice:
    standard: str
    power_type: str
    max_power_kw: float | None
    quote: Quote
    tariff: PricedTariff

    def wire(self) -> PriceQuote:
        return PriceQuote(
            currency=self.quote.currency,
            incl_vat=_float(self.quote.incl_vat),
            excl_vat=_float(self.quote.excl_vat),
            tariff_id=self.tariff.tariff_id,
            basis=self.tariff.basis,
            summary=self.tariff.summary,
        )


def _float(amount: Decimal | None) -> float | None:
    return float(amount) if amount is not None else None


class Pricer:
    """Prices pages of discovery results; one per process (``Services``)."""

    def __init__(self, store: Store, *, tariffs: int = 20_000, quotes: int = 50_000) -> None:
        self.store = store
        self._tariffs: _Lru[TariffRef, PricedTariff] = _Lru(tariffs)
        self._quotes: _Lru[tuple[Any, ...], tuple[Quote | None]] = _Lru(quotes)

    async def decoded(self, refs: Sequence[TariffRef]) -> dict[TariffRef, PricedTariff]:
        """The decoded tariffs of ``refs``; a tariff updated since its ref was read answers
        with its newer version (under the ref asked for)."""
        found: dict[TariffRef, PricedTariff] = {}
        missing: dict[int, TariffRef] = {}
        for ref in refs:
            entry = self._tariffs.get(ref)
            if entry is None:
                missing[ref.row_id] = ref
            else:
                found[ref] = entry
        if missing:
            for row in await prices.tariff_objects(self.store, sorted(missing)):
                entry = self._tariffs.put(
                    TariffRef(row.row_id, row.last_updated), priced_tariff(row)
                )
                found[missing[row.row_id]] = entry
        return found

    def quote_connector(
        self,
        kind: ConnectorTariffs,
        decoded: dict[TariffRef, PricedTariff],
        ask: PriceAsk,
        start: datetime,
    ) -> GroupPrice | None:
        usable = [decoded[r] for r in kind.tariffs if r in decoded and decoded[r].tariff]
        if not usable:
            return None
        key = (kind.tariffs, kind.power_type, kind.max_power_kw, ask.session, start, kind.time_zone)
        cached = self._quotes.get(key)
        if cached is None:
            tariffs = [entry.tariff for entry in usable if entry.tariff is not None]
            cached = self._quotes.put(
                key,
                (
                    quote(
                        tariffs,
                        ask.session,
                        start=start,
                        power_type=kind.power_type,
                        max_power_kw=kind.max_power_kw,
                        time_zone=kind.time_zone,
                    ),
                ),
            )
        found = cached[0]
        if found is None:
            return None
        return GroupPrice(
            kind.standard, kind.power_type, kind.max_power_kw, found, usable[found.tariff_index]
        )

    async def location_prices(
        self, location_pks: Sequence[int], ask: PriceAsk, now: datetime
    ) -> dict[int, list[GroupPrice]]:
        """Per location: the cheapest price of each kind of connector that has one."""
        kinds = await prices.connector_tariffs(self.store, location_pks)
        decoded = await self.decoded(list({r for k in kinds for r in k.tariffs}))
        start = ask.start(now)
        out: dict[int, dict[tuple[str, str, float | None], GroupPrice]] = {}
        for kind in kinds:
            priced = self.quote_connector(kind, decoded, ask, start)
            if priced is None:
                continue
            groups = out.setdefault(kind.location_pk, {})
            key = (kind.standard, kind.power_type, kind.max_power_kw)
            best = groups.get(key)
            if best is None or cheaper(priced.quote, best.quote, ask.currency):
                groups[key] = priced
        return {pk: list(groups.values()) for pk, groups in out.items()}


def cheaper(a: Quote, b: Quote, currency: str | None) -> bool:
    if currency is not None and (a.currency == currency) != (b.currency == currency):
        return a.currency == currency
    if a.currency != b.currency:
        return False  # not comparable: keep the first
    return a.comparable < b.comparable
