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

import msgspec

from app.domain.sources import REGISTRIES
from app.store import Store, source_imports
from app.store.records import Problem
from app.store.sites import MergeReport, merge_sites
from ingest.loader import reason_class, write_file_records
from ingest.ocpi.normalise import IngestContext, Normaliser
from ingest.registries import Reader, Record, Rejected

BATCH_SIZE = 2000
_SILENT_NOTE = "missing; read as UNKNOWN"


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


def reader(source: str) -> Reader:
    if source not in REGISTRIES:
        raise ValueError(f"unknown registry {source!r} (known: {', '.join(sorted(REGISTRIES))})")
    module = importlib.import_module(f"ingest.registries.{source}")
    read: Reader = module.read
    return read


def _file_facts(path: Path) -> dict[str, object]:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"name": path.name, "sha256": digest, "bytes": path.stat().st_size}


def _rejected_problem(item: Rejected) -> Problem:
    lines = ",".join(str(n) for n in item.lines[:20])
    return Problem(
        "row",
        item.record_id or f"{item.file}:{lines}",
        f"{item.file} line {lines}: {item.reason}",
        raw_text=item.raw_text,
    )


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
    if not force and await source_imports.last_complete_files(store, network_id) == facts:
        report.unchanged_files = True
        report.seconds = round(time.perf_counter() - started, 2)
        return report
    run_id = await source_imports.start(store, network_id, facts)
    received_at = datetime.now(UTC)
    normaliser = Normaliser(
        IngestContext(network_id=network_id, source=f"registry:{source}", received_at=received_at)
    )
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
                await _apply(store, network_id, source, batch, rejected, received_at, normaliser,
                             report)  # fmt: skip
                batch, rejected = [], []
                if on_progress:
                    on_progress(report.rows)
        await _apply(store, network_id, source, batch, rejected, received_at, normaliser, report)
        if on_progress:
            on_progress(report.rows)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        await source_imports.finish(
            store,
            run_id,
            error=error,
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


async def _apply(
    store: Store,
    network_id: int,
    source: str,
    batch: list[Record],
    rejected: list[Problem],
    received_at: datetime,
    normaliser: Normaliser,
    report: ImportReport,
) -> None:
    if not batch and not rejected:
        return
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
    accepted, problems = normaliser.locations([msgspec.json.encode(r.location) for r in batch])
    problems = [
        p for p in problems if not (p.severity == "note" and p.reason.endswith(_SILENT_NOTE))
    ]
    async with store.transaction() as tx:
        # A registry owns its parties (US*AFD, DE*BNA, GB*NCR, cc*OCM): no OCPI network or hub
        # can then claim them and write over its records.
        problems = [*rejected, *problems]
        result = await write_file_records(
            tx, accepted, problems, network_id=network_id, source=f"registry:{source}",
            received_at=received_at, observed_at=None, ocpi_version="2.2.1", own_parties=True,
        )  # fmt: skip
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


def _reason_class(reason: str) -> str:
    return reason_class(reason.split(": ", 1)[1] if " line " in reason else reason)
