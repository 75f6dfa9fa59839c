"""``wattlas import afdc|bnetza|ukncr|ocm FILE…``: a registry's files through the same
normalise → quarantine → apply path as an OCPI pull, then the sites merged (app.store.sites).

- Every row ends as a stored record (possibly with the other rows of its site), or in the
  quarantine with its reason (``row`` from the reader, ``location`` from the normaliser).
- Records are applied in batches, each in its own transaction: a failure costs its batch only,
  and what was committed stays.
- Files identical (SHA-256) to the last complete import of the source are not read again
  (``unchanged_files``); ``force`` re-reads them, and then every record is found unchanged
  (content hashes) and nothing is written but the run's row. Each run is one
  ``source_imports`` row with the files' SHA-256 and the counts.
- Notes the normaliser makes for what a registry never says (a connector without a standard,
  format or power type: "… missing; read as UNKNOWN") are not kept per record: they hold for
  every record of such a source and its docstring says so. Every other note is kept.
- Pricing (issue 13): a site's pricing text (``Record.pricing``) becomes an OCPI Tariff of the
  party of the site's location, linked from every connector of the site (``tariff_ids``), and
  goes through the OCPI tariff path (``normalise_tariff`` → ``apply_tariffs``). Identical texts
  share one tariff: its id is "RT" + 16 hex digits of SHA-256(currency "\\n" text). Its
  ``last_updated`` is the newest file's modification time, so that reading the same files again
  finds every tariff unchanged. Text that cannot be read is stored all the same, without
  elements, with ``unparsed_reason`` and the text as ``tariff_alt_text`` (shown without a
  price, never dropped). Only the sites the normaliser accepts count and get their tariff
  written; the counts per file go into the run's ``files`` (``pricing``).
"""

from __future__ import annotations

import hashlib
import importlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import msgspec

from app.domain.sources import REGISTRIES
from app.price.registry_text import RegistryPricing, RegistryTariff
from app.store import Store, Tx, networks, source_imports
from app.store.records import LocationRecord, Problem, TariffRecord, location_key
from app.store.sites import MergeReport, merge_sites
from app.store.source_imports import PricingFacts
from app.store.tariffs import apply_tariffs
from ingest.loader import reason_class, write_file_records
from ingest.ocpi.normalise import IngestContext, Normaliser
from ingest.ocpi.tariffs import normalise_tariff
from ingest.registries import Reader, Record, Rejected

BATCH_SIZE = 2000
_SILENT_NOTE = "missing; read as UNKNOWN"
_NO_CURRENCY: Final = "XXX"  # ISO 4217 "no currency": a reader that named none
# The parser's amounts are Decimal: written as JSON numbers, as an OCPI peer sends them.
_tariff_encoder: Final = msgspec.json.Encoder(decimal_format="number")


@dataclass
class ImportReport:
    source: str
    files: list[str]
    rows: int = 0  # records read + rows rejected by the reader
    records: int = 0
    accepted: int = 0
    unchanged: int = 0
    skipped_older: int = 0
    quarantined: int = 0
    evses: int = 0
    visible: int = 0
    notes: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    unchanged_files: bool = False  # identical to the last complete import: not read again
    merge: MergeReport | None = None
    pricing: PricingFacts = field(default_factory=PricingFacts)  # of the sites accepted
    tariffs: int = 0  # distinct tariffs of that text (identical texts share one)
    tariffs_written: int = 0  # created or updated
    tariffs_unchanged: int = 0
    tariffs_older: int = 0  # older than stored (files older than those last imported)


def reader(source: str) -> Reader:
    if source not in REGISTRIES:
        raise ValueError(f"unknown registry {source!r} (known: {', '.join(sorted(REGISTRIES))})")
    module = importlib.import_module(f"ingest.registries.{source}")
    read: Reader = module.read
    return read


def registry_tariff_id(currency: str, source_text: str) -> str:
    """One id per (currency, text): identical texts share a tariff. 18 characters (OCPI
    CiString(36)), upper case as the store keeps ids."""
    digest = hashlib.sha256(f"{currency}\n{source_text}".encode()).hexdigest()
    return f"RT{digest[:16].upper()}"


def pricing_tariff(pricing: RegistryPricing, currency: str) -> dict[str, Any]:
    """The OCPI Tariff of a site's pricing text (``"basis": "registry_text"``), without its
    party and ``last_updated``; ``currency`` is the reader's, for text that was not read."""
    tariff: dict[str, Any]
    if isinstance(pricing, RegistryTariff):
        tariff = dict(pricing.tariff)
        if pricing.notes:
            tariff["notes"] = list(pricing.notes)
    else:
        tariff = {
            "currency": currency,
            "basis": "registry_text",
            "elements": [],
            "unparsed_reason": pricing.reason,
            "tariff_alt_text": [{"language": "en", "text": pricing.source_text}],
        }
    tariff["source_text"] = pricing.source_text
    tariff["id"] = registry_tariff_id(str(tariff["currency"]), pricing.source_text)
    return tariff


# What the readers take from a file: a run by older readers is not "the same files" (version 2:
# pricing text, issue 13), so the next start imports them again.
READERS_VERSION: Final = 2


def _file_facts(path: Path) -> dict[str, object]:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "name": path.name,
        "sha256": digest,
        "bytes": path.stat().st_size,
        "readers": READERS_VERSION,
    }


def _identity(files: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """The facts that say whether two runs read the same files (not what they found)."""
    if files is None:
        return None
    return [{k: f.get(k) for k in ("name", "sha256", "bytes", "readers")} for f in files]


def _files_updated(paths: list[Path]) -> str:
    newest = max((p.stat().st_mtime for p in paths), default=0.0)
    return datetime.fromtimestamp(int(newest), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rejected_problem(item: Rejected) -> Problem:
    lines = ",".join(str(n) for n in item.lines[:20])
    return Problem(
        "row",
        item.record_id or f"{item.file}:{lines}",
        f"{item.file} line {lines}: {item.reason}",
        raw_text=item.raw_text,
    )


@dataclass
class _Run:
    """One import run, as its batches share it."""

    network_id: int
    source: str
    received_at: datetime
    normaliser: Normaliser
    report: ImportReport
    tariffs_updated: str  # RFC 3339: every tariff's last_updated (the newest file's mtime)
    pricing: dict[str, PricingFacts] = field(default_factory=dict)  # per file name
    tariffs_seen: set[tuple[str, str, str]] = field(default_factory=set)  # written in this run


async def import_files(
    store: Store,
    source: str,
    paths: list[Path],
    *,
    on_progress: Callable[[int], None] | None = None,
    merge: bool = True,
    force: bool = False,
) -> ImportReport:
    """Import a registry's files (one run); ``on_progress`` gets the rows read so far."""
    started = time.perf_counter()
    read = reader(source)
    report = ImportReport(source, [p.name for p in paths])
    network_id = await source_imports.ensure_registry_network(store, source)
    facts = [_file_facts(p) for p in paths]
    if not force and _identity(await source_imports.last_complete_files(store, network_id)) == (
        facts
    ):
        report.unchanged_files = True
        report.seconds = round(time.perf_counter() - started, 2)
        return report
    run_id = await source_imports.start(store, network_id, facts)
    received_at = datetime.now(UTC)
    normaliser = Normaliser(
        IngestContext(network_id=network_id, source=f"registry:{source}", received_at=received_at)
    )
    run = _Run(network_id, source, received_at, normaliser, report, _files_updated(paths))
    error: str | None = None
    try:
        batch: list[Record] = []
        rejected: list[Problem] = []
        for item in read(paths):
            report.rows += 1
            if isinstance(item, Rejected):
                rejected.append(_rejected_problem(item))
            else:
                batch.append(item)
            if len(batch) + len(rejected) >= BATCH_SIZE:
                await _apply(store, run, batch, rejected)
                batch, rejected = [], []
                if on_progress:
                    on_progress(report.rows)
        await _apply(store, run, batch, rejected)
        if on_progress:
            on_progress(report.rows)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        for facts_of_file in run.pricing.values():
            report.pricing.add(facts_of_file)
        files = [
            {**f, "pricing": msgspec.to_builtins(run.pricing.get(str(f["name"]), PricingFacts()))}
            for f in facts
        ]
        await source_imports.finish(
            store,
            run_id,
            error=error,
            files=files,
            rows=report.rows,
            records=report.records,
            accepted=report.accepted,
            unchanged=report.unchanged,
            skipped_older=report.skipped_older,
            quarantined=report.quarantined,
        )
    if merge:
        report.merge = await merge_sites(store)
    report.seconds = round(time.perf_counter() - started, 2)
    return report


async def _apply(store: Store, run: _Run, batch: list[Record], rejected: list[Problem]) -> None:
    if not batch and not rejected:
        return
    report = run.report
    report.records += len(batch)
    # One record per id in a batch (two files of one source may hold the same site): the one
    # updated last; across batches the store keeps the newest anyway.
    newest: dict[str, Record] = {}
    for item in batch:
        before = newest.get(item.record_id)
        if before is None or str(before.location.get("last_updated", "")) <= str(
            item.location.get("last_updated", "")
        ):
            newest[item.record_id] = item
    batch = list(newest.values())
    site_tariffs = {
        r.record_id: pricing_tariff(r.pricing, r.currency or _NO_CURRENCY)
        for r in batch
        if r.pricing is not None
    }
    locations = [
        _linked(r.location, site_tariffs[r.record_id]["id"])
        if r.record_id in site_tariffs
        else r.location
        for r in batch
    ]
    accepted, problems = run.normaliser.locations([msgspec.json.encode(loc) for loc in locations])
    problems = [
        p for p in problems if not (p.severity == "note" and p.reason.endswith(_SILENT_NOTE))
    ]
    tariffs = _tariffs(run, batch, site_tariffs, accepted, problems)
    async with store.transaction() as tx:
        # A registry owns its parties (US*AFD, DE*BNA, GB*NCR, cc*OCM): no OCPI network or hub
        # can then claim them and write over its records.
        problems = [*rejected, *problems]
        result = await write_file_records(
            tx, accepted, problems, network_id=run.network_id, source=f"registry:{run.source}",
            received_at=run.received_at, observed_at=None, ocpi_version="2.2.1", own_parties=True,
        )  # fmt: skip
        await _write_tariffs(tx, run, tariffs)
    report.accepted += result.applied
    report.unchanged += result.unchanged
    report.skipped_older += result.stale
    report.evses += result.evses
    report.visible += sum(1 for s in result.states if s.visible)
    for p in problems:
        if p.severity == "rejected":
            if p.object_kind in ("row", "location"):
                report.quarantined += 1
            report.reasons[f"{p.object_kind}: {_reason_class(p.reason)}"] += 1
        else:
            report.notes += 1


def _linked(location: dict[str, Any], tariff_id: str) -> dict[str, Any]:
    """The location with every connector of it linked to the site's tariff."""
    evses = [
        {**evse, "connectors": [{**c, "tariff_ids": [tariff_id]} for c in evse["connectors"]]}
        if isinstance(evse, dict) and isinstance(evse.get("connectors"), list)
        else evse
        for evse in location.get("evses") or ()
    ]
    return {**location, "evses": evses}


def _key(location: dict[str, Any]) -> str:
    cc, pid, ocpi_id = (
        str(location.get(k, "")).strip().upper() for k in ("country_code", "party_id", "id")
    )
    return location_key(cc, pid, ocpi_id)


def _tariffs(
    run: _Run,
    batch: list[Record],
    site_tariffs: dict[str, dict[str, Any]],
    accepted: list[LocationRecord],
    problems: list[Problem],
) -> list[TariffRecord]:
    """The tariffs of the accepted sites not yet written in this run, normalised as a pulled
    tariff is (what cannot be is a problem of the batch); each site's pricing counted."""
    by_key = {_key(r.location): r for r in batch if r.record_id in site_tariffs}
    tariffs: list[TariffRecord] = []
    for location in accepted:
        record = by_key.get(location.key)
        if record is None or record.pricing is None:
            continue
        facts = run.pricing.setdefault(record.file, PricingFacts())
        facts.sites_with_text += 1
        if isinstance(record.pricing, RegistryTariff):
            facts.parsed += 1
        else:
            facts.unparsed += 1
            reason = reason_class(record.pricing.reason)
            facts.unparsed_reasons[reason] = facts.unparsed_reasons.get(reason, 0) + 1
        raw = site_tariffs[record.record_id]
        identity = (location.country_code, location.party_id, str(raw["id"]))
        if identity in run.tariffs_seen:
            continue
        run.tariffs_seen.add(identity)
        stored = {
            **raw,
            "country_code": location.country_code,
            "party_id": location.party_id,
            "last_updated": run.tariffs_updated,
        }
        tariff = normalise_tariff(
            _tariff_encoder.encode(stored),
            country_code=location.country_code,
            party_id=location.party_id,
            received_at=run.received_at,
            problems=problems,
            ocpi_version="2.2.1",
        )
        if tariff is not None:
            tariffs.append(tariff)
    return tariffs


async def _write_tariffs(tx: Tx, run: _Run, tariffs: list[TariffRecord]) -> None:
    """Into the store, in the batch's transaction; a party another network owns (its
    locations were refused, with that reason) gets none written."""
    if not tariffs:
        return
    refused = await networks.writable_parties(
        tx, run.network_id, [(t.country_code, t.party_id) for t in tariffs], source="file"
    )
    writable = [t for t in tariffs if (t.country_code, t.party_id) not in refused]
    counts = await apply_tariffs(
        tx, writable, network_id=run.network_id, received_at=run.received_at
    )
    run.report.tariffs += len(tariffs)
    run.report.tariffs_written += counts.accepted
    run.report.tariffs_unchanged += counts.unchanged
    run.report.tariffs_older += counts.stale


def _reason_class(reason: str) -> str:
    return reason_class(reason.split(": ", 1)[1] if " line " in reason else reason)
