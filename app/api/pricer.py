"""Prices for discovery answers, computed once (issue 13): stored tariffs decoded once per
(row, ``last_updated``), and each (tariff list, connector power, session, local start minute)
priced once, in LRU caches of the process (``Services.pricer``). A network has a few tariffs
for thousands of locations, so once warm a page is priced from the caches: one statement for
its connectors' tariff links, no decoding, no engine run.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Generic, Literal, TypeVar, get_args

import msgspec

from app.api.schemas import PriceQuote
from app.domain.tariffs import tariff_summary_incl_vat
from app.price import Tariff, Unpriceable, read_stored_tariff
from app.price.quote import Quote, Sensitivity, SessionAsk, quote, sensitivity
from app.store import prices
from app.store.core import Store
from app.store.prices import ConnectorTariffs, StoredTariffRow, TariffRef

Basis = Literal["tariff", "registry_text", "demo"]
BASES: Final[tuple[Basis, ...]] = get_args(Basis)
# A tariff's new version, or a tariff newly linked, prices answers within this long; the
# tariffs themselves are decoded once per version (keyed by row and last_updated).
PARTY_TARIFFS_TTL_S: Final = 5.0
_links: Final = msgspec.json.Decoder(list[tuple[str, str, float | None, list[str]]])

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Lru(Generic[K, V]):
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


REGISTRY_KEYS: Final = ("source_text", "unparsed_reason", "notes")


def trusted_object(row: StoredTariffRow) -> dict[str, Any]:
    """The stored tariff as it may be believed: only a registry's tariffs are registry text
    (their VAT unknown, their prices compared as published); an OCPI network that labels its
    own so loses the label, so that no network can sort its prices that way. ``demo`` is
    believed from anyone: it only ever makes a price look less certain."""
    raw = row.raw if isinstance(row.raw, dict) else {}
    if row.network_kind == "registry" or raw.get("basis") != "registry_text":
        return raw
    return {k: v for k, v in raw.items() if k != "basis" and k not in REGISTRY_KEYS}


def priced_tariff(row: StoredTariffRow) -> PricedTariff:
    raw = trusted_object(row)
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
    """A kind of connector's price; ``wire`` is what answers show (built once, shared by every
    answer that shows it: it is only ever encoded)."""

    standard: str
    power_type: str
    max_power_kw: float | None
    quote: Quote
    tariff: PricedTariff
    wire: PriceQuote

    @classmethod
    def of(
        cls, standard: str, power_type: str, kw: float | None, quote: Quote, tariff: PricedTariff
    ) -> GroupPrice:
        shown = PriceQuote(
            currency=quote.currency,
            incl_vat=_float(quote.incl_vat),
            excl_vat=_float(quote.excl_vat),
            tariff_id=tariff.tariff_id,
            basis=tariff.basis,
            summary=tariff.summary,
        )
        return cls(standard, power_type, kw, quote, tariff, shown)


def _float(amount: Decimal | None) -> float | None:
    return float(amount) if amount is not None else None


class Pricer:
    """Prices pages of discovery results; one per process (``Services``)."""

    def __init__(self, store: Store, *, tariffs: int = 20_000, quotes: int = 50_000) -> None:
        self.store = store
        self._tariffs: Lru[TariffRef, PricedTariff] = Lru(tariffs)
        self._quotes: Lru[tuple[Any, ...], tuple[Quote | None, PricedTariff | None]] = Lru(quotes)
        # A location's prices, by everything they are computed from (``location_prices``).
        self._locations: Lru[tuple[Any, ...], list[GroupPrice]] = Lru(quotes)
        self._sensitivity: Lru[tuple[TariffRef, ...], Sensitivity] = Lru(tariffs)
        self._parties: Lru[tuple[str, str], tuple[float, dict[str, TariffRef]]] = Lru(tariffs)

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
        tariffs = [entry.tariff for entry in usable if entry.tariff is not None]
        depends = self._sensitivity.get(kind.tariffs)
        if depends is None:
            depends = self._sensitivity.put(kind.tariffs, sensitivity(tariffs))
        # The power always: whether a price exists at all depends on it (a plan over 7 days or
        # under 1 s is refused), and connectors have few distinct powers.
        key = (
            kind.tariffs,
            ask.session,
            kind.power_type,
            kind.max_power_kw,
            start if depends.start else None,
            kind.time_zone if depends.zone else None,
        )
        cached = self._quotes.get(key)
        if cached is None:
            found = quote(
                tariffs,
                ask.session,
                start=start,
                power_type=kind.power_type,
                max_power_kw=kind.max_power_kw,
                time_zone=kind.time_zone,
            )
            cached = self._quotes.put(key, (found, usable[found.tariff_index] if found else None))
        found, tariff = cached
        if found is None or tariff is None:
            return None
        return GroupPrice.of(kind.standard, kind.power_type, kind.max_power_kw, found, tariff)

    async def party_tariffs(
        self, parties: set[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[float, dict[str, TariffRef]]]:
        """Each party's visible tariffs by id, as of at most ``PARTY_TARIFFS_TTL_S`` ago, with
        when they were read (the version of what is computed from them)."""
        now = time.monotonic()
        found: dict[tuple[str, str], tuple[float, dict[str, TariffRef]]] = {}
        missing = []
        for party in parties:
            entry = self._parties.get(party)
            if entry is not None and now - entry[0] < PARTY_TARIFFS_TTL_S:
                found[party] = entry
            else:
                missing.append(party)
        if missing:
            loaded = await prices.party_tariff_refs(self.store, missing)
            for party in missing:
                found[party] = self._parties.put(party, (now, loaded.get(party, {})))
        return found

    async def location_prices(
        self, rows: Sequence[dict[str, Any]], ask: PriceAsk, now: datetime
    ) -> dict[int, list[GroupPrice]]:
        """Per location (summary rows: ``pk``, ``country_code``, ``party_id``, ``tz``,
        ``tariff_links_json``): the cheapest price of each kind of connector that has one.

        A location's prices are kept by what they are computed from: its tariff links (the
        text as stored), its party's tariff versions (reloaded every ``PARTY_TARIFFS_TTL_S``),
        its time zone, the session, the start minute and the currency preferred."""
        linked = [row for row in rows if row["tariff_links_json"] != "[]"]
        parties = await self.party_tariffs({(r["country_code"], r["party_id"]) for r in linked})
        start = ask.start(now)
        out: dict[int, list[GroupPrice]] = {}
        pending: list[tuple[dict[str, Any], tuple[Any, ...]]] = []
        for row in linked:
            party = (row["country_code"], row["party_id"])
            key = (row["tariff_links_json"], party, parties[party][0], row["tz"], ask.session,
                   start, ask.currency)  # fmt: skip
            found = self._locations.get(key)
            if found is None:
                pending.append((row, key))
            else:
                out[row["pk"]] = found
        if not pending:
            return out
        kinds: dict[int, list[ConnectorTariffs]] = {}
        for row, _ in pending:
            refs = parties[(row["country_code"], row["party_id"])][1]
            for standard, power_type, kw, ids in _links.decode(row["tariff_links_json"]):
                chosen = tuple(refs[t] for t in ids if t in refs)
                if chosen:
                    kinds.setdefault(row["pk"], []).append(
                        ConnectorTariffs(row["pk"], row["tz"], standard, power_type, kw, chosen)
                    )
        decoded = await self.decoded(
            list({r for ks in kinds.values() for k in ks for r in k.tariffs})
        )
        for row, key in pending:
            groups: dict[tuple[str, str, float | None], GroupPrice] = {}
            for kind in kinds.get(row["pk"], []):
                priced = self.quote_connector(kind, decoded, ask, start)
                if priced is None:
                    continue
                group = (kind.standard, kind.power_type, kind.max_power_kw)
                best = groups.get(group)
                if best is None or cheaper(priced.quote, best.quote, ask.currency):
                    groups[group] = priced
            out[row["pk"]] = self._locations.put(key, list(groups.values()))
        return out


def cheaper(a: Quote, b: Quote, currency: str | None) -> bool:
    if currency is not None and (a.currency == currency) != (b.currency == currency):
        return a.currency == currency
    if a.currency != b.currency:
        return False  # not comparable: keep the first
    return a.comparable < b.comparable
