"""``wattlas load``: OCPI location dumps through the same decode → normalise → apply path as a
pull (full envelope, ``{"data": ...}`` or a bare array; 2.1.1 dumps need ``--party``)."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from app.domain.parties import Party
from app.domain.timestamps import parse_timestamp
from app.store import Store, Tx, networks
from app.store.locations import ApplyResult, apply_locations
from app.store.quarantine import record_problems
from app.store.records import LocationRecord, Problem
from ingest.ocpi import wire
from ingest.ocpi.normalise import IngestContext, Normaliser, split_page

BATCH_SIZE = 500


@dataclass
class LoadReport:
    file: str
    network: str
    objects: int = 0
    accepted: int = 0
    stale: int = 0
    unchanged: int = 0
    evses: int = 0
    visible_locations: int = 0
    visible_evses: int = 0
    quarantined: int = 0
    notes: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    note_reasons: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    error: str | None = None

    def add_problems(self, problems: list[Problem]) -> None:
        for p in problems:
            reason = reason_class(p.reason)
            if p.severity == "rejected":
                if p.object_kind == "location":
                    self.quarantined += 1
                self.reasons[f"{p.object_kind}: {reason}"] += 1
            else:
                self.notes += 1
                self.note_reasons[f"{p.object_kind}: {reason}"] += 1


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")


def reason_class(reason: str) -> str:
    """A reason without its per-object details, for summaries: numbers and values elided."""
    text = _NUMBER.sub("N", _QUOTED.sub("…", reason))
    for cut in (", N km", " (outside", "; used", " - at "):
        text = text.split(cut, 1)[0]
    return text


def network_name_for(path: Path) -> str:
    stem = path.stem
    for prefix in (
        "ocpi_2_1_1_locations",
        "ocpi_2_2_1_locations",
        "ocpi_2_2_locations",
        "ocpi_3_0_0_location",
        "ocpi_locations",
    ):
        if stem.startswith(prefix):
            stem = stem[len(prefix) :].lstrip("-_") or stem
    return stem


def _envelope_timestamp(payload: bytes) -> datetime | None:
    body = payload.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
    if body[:1] != b"{":
        return None
    try:
        top = wire.top_level_decoder.decode(body)
    except msgspec.DecodeError:
        return None
    raw = top.get("timestamp")
    return parse_timestamp(msgspec.json.decode(raw)) if raw is not None else None


async def write_file_records(
    tx: Tx,
    accepted: list[LocationRecord],
    problems: list[Problem],
    *,
    network_id: int,
    source: str,
    received_at: datetime,
    observed_at: datetime | None,
    ocpi_version: str | None = None,
    own_parties: bool = False,
) -> ApplyResult:
    """Normalised records of a file in one transaction: those of a party another network owns
    (or its hub suspended) become problems naming why; the rest are applied; every problem is
    kept. ``own_parties``: the file's network owns the parties it writes (a registry)."""
    refused = await networks.writable_parties(
        tx, network_id, [(a.country_code, a.party_id) for a in accepted], source="file"
    )
    if own_parties:  # the party rows are locked by writable_parties until the commit
        claimed = sorted({(a.country_code, a.party_id) for a in accepted} - set(refused))
        await networks.set_parties(
            tx, network_id, [Party(cc, pid) for cc, pid in claimed], replace=False, source="file"
        )
    kept = []
    for record in accepted:
        reason = refused.get((record.country_code, record.party_id))
        if reason is None:
            kept.append(record)
        else:
            problems.append(
                Problem("location", record.key, f"{reason}: not written", raw=record.raw)
            )
    result = await apply_locations(
        tx, kept, network_id=network_id, ocpi_version=ocpi_version, received_at=received_at,
        observed_at=observed_at,
    )  # fmt: skip
    await record_problems(tx, problems, network_id=network_id, source=source)
    return result


async def load_file(
    store: Store,
    path: Path,
    *,
    party: Party | None = None,
    network_name: str | None = None,
    batch_size: int = BATCH_SIZE,
    on_progress: Callable[[int, int], None] | None = None,
    check_geography: bool = True,
) -> LoadReport:
    started = time.perf_counter()
    name = network_name or network_name_for(path)
    report = LoadReport(file=path.name, network=name)
    payload = path.read_bytes()  # noqa: ASYNC240 - one local file, before any awaited I/O
    try:
        raws = split_page(payload)
    except (ValueError, msgspec.DecodeError) as exc:
        report.error = f"not an OCPI locations document: {exc}"
        async with store.transaction() as tx:
            network_id = await networks.ensure_file_network(tx, name)
            await record_problems(
                tx,
                [
                    Problem(
                        "page",
                        path.name,
                        report.error,
                        raw_text=payload[:4000].decode("utf-8", errors="replace"),
                    )
                ],
                network_id=network_id,
                source=f"file:{path.name}",
            )
        report.seconds = time.perf_counter() - started
        return report
    report.objects = len(raws)
    received_at = datetime.now(UTC)
    network_id = await networks.ensure_file_network(store, name)
    ctx = IngestContext(
        network_id=network_id,
        source=f"file:{path.name}",
        country_code=party.country_code if party else None,
        party_id=party.party_id if party else None,
        received_at=received_at,
        observed_at=_envelope_timestamp(payload),
        check_geography=check_geography,
    )
    normaliser = Normaliser(ctx)
    for start in range(0, len(raws), batch_size):
        chunk = raws[start : start + batch_size]
        accepted, problems = normaliser.locations(chunk)
        async with store.transaction() as tx:
            # A dump shows whose data it is, and owns nothing: the parties become known to its
            # network (not owned), and a party an OCPI network owns is not written from a file.
            result = await write_file_records(
                tx, accepted, problems, network_id=network_id, source=ctx.source,
                received_at=received_at, observed_at=ctx.observed_at,
            )  # fmt: skip
        report.add_problems(problems)
        report.accepted += result.applied
        report.stale += result.stale
        report.unchanged += result.unchanged
        report.evses += result.evses
        report.visible_locations += sum(1 for s in result.states if s.visible)
        report.visible_evses += sum(s.counts.total for s in result.states if s.visible)
        if on_progress:
            on_progress(min(start + batch_size, len(raws)), len(raws))
    report.seconds = time.perf_counter() - started
    return report
