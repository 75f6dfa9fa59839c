"""Pulling from a network: full and incremental sync of Locations and Tariffs (ocpi.md §1.7,
§3.2, §4.1, P8-P11).

- One pull at a time per network, across every process (an advisory lock, ``app.store.locks``),
  many networks in parallel.
- Pages are streamed: each is decoded, normalised and applied in its own transaction together
  with the run's progress (the next page's URL), so memory stays flat and a failed full sync
  resumes where it stopped.
- Only a *complete* full sync hides what it did not list; a failed or incremental one never does.
- Incremental sync asks for ``date_from`` = start of the last successful sync minus a margin
  (peers do not always bump ``last_updated`` in time, ocpi.md P10).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
from redis.asyncio import Redis

from app.live.events import availability_events, publish
from app.logs import get_logger
from app.settings import Settings
from app.store import Busy, Store, Tx, locks, networks, pulls
from app.store.locations import ApplyResult, apply_locations, hide_absent_after_full_sync
from app.store.pull_status import PULLED_MODULES
from app.store.pulls import PullImpossible, PullTarget
from app.store.quarantine import record_problems
from app.store.records import LocationRecord, Problem, TariffRecord
from app.store.tariffs import apply_tariffs, hide_absent_tariffs
from ingest.client import OcpiClient, OcpiError, Page, RetryPolicy
from ingest.credentials import endpoint_url
from ingest.ocpi import transport
from ingest.ocpi.hubclientinfo import ClientInfo, read_client_info
from ingest.ocpi.normalise import IngestContext, Normaliser
from ingest.ocpi.tariffs import normalise_tariff

log = get_logger(__name__)

# Our party when the caller does not say (the default of ``Settings.ocpi_party``).
US = (Settings().ocpi_country_code, Settings().ocpi_party_id)
INCREMENTAL_MARGIN = timedelta(minutes=10)
RESUME_WITHIN = timedelta(hours=24)
# The names callers know these by.
SyncBusy = Busy
SyncImpossible = PullImpossible


@dataclass
class SyncReport:
    network: str
    module: str
    kind: str
    run_id: int | None = None
    resumed: bool = False
    complete: bool = False
    pages: int = 0
    objects: int = 0
    accepted: int = 0
    unchanged: int = 0
    skipped_older: int = 0  # older than the stored version
    quarantined: int = 0
    evses: int = 0
    hidden_absent: int = 0
    seconds: float = 0.0
    error: str | None = None
    total_count: int | None = None
    notes: list[str] = field(default_factory=list)  # what the run worked around
    # Where the run's time went: waiting for the next page, waiting for the worker to normalise
    # one, applying them (the three overlap, so a stage that is never waited on costs nothing).
    stage_seconds: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("fetch_wait", "normalise_wait", "apply"), 0.0)
    )
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def evses_per_s(self) -> float:
        return self.evses / self.seconds if self.seconds else 0.0

    @property
    def adds_up(self) -> bool:
        """Every object is accounted for exactly once."""
        counted = self.accepted + self.unchanged + self.skipped_older + self.quarantined
        return counted == self.objects


async def sync(
    store: Store,
    network_id: int,
    *,
    module: str = "locations",
    full: bool | None = None,
    redis: Redis | None = None,
    http: httpx.AsyncClient | None = None,
    client: OcpiClient | None = None,
    retry: RetryPolicy | None = None,
    us: tuple[str, str] = US,
    lock_held: bool = False,
) -> SyncReport:
    """Pull one module of one network. ``full=None``: incremental if a sync succeeded before.
    ``us``: our party (``Settings.ocpi_party``), the sender of the requests' routing headers.
    ``lock_held``: the caller holds the network's pull lock (a scheduler's pull of every
    module of it)."""
    started = time.perf_counter()
    if module not in PULLED_MODULES:
        raise ValueError(f"module must be one of {', '.join(PULLED_MODULES)}")
    network = await pulls.pull_target(store, network_id)
    never = module not in network.last_ok
    kind = "full" if full or (full is None and never) else "incremental"
    report = SyncReport(network.name, module, kind)
    url = endpoint_url(network.endpoints, module, "SENDER")
    if url is None:
        raise SyncImpossible(f"network {network.name} lists no {module} sender endpoint")
    if not network.token:
        raise SyncImpossible(f"network {network.name} gave us no token to pull with")
    held = (
        contextlib.nullcontext()
        if lock_held
        else locks.held(store, locks.PULL, network_id, f"a pull of network {network.name}")
    )
    async with held:
        own_client = client is None
        routed = module in transport.FUNCTIONAL_MODULES and transport.is_22_or_later(
            network.version
        )
        client = client or OcpiClient(
            network.token,
            auth_encoding=network.auth_encoding,
            http=http,
            retry=retry,
            routing=transport.routing_headers(us, network.addressed) if routed else None,
        )
        try:
            await _run(store, network, client, url, report, redis)
        finally:
            if own_client:
                await client.aclose()
    report.seconds = time.perf_counter() - started
    log.info(
        "sync.finished",
        network=network.name,
        module=module,
        kind=report.kind,
        complete=report.complete,
        pages=report.pages,
        objects=report.objects,
        accepted=report.accepted,
        unchanged=report.unchanged,
        skipped_older=report.skipped_older,
        quarantined=report.quarantined,
        hidden_absent=report.hidden_absent,
        evses=report.evses,
        seconds=round(report.seconds, 3),
        error=report.error,
        notes=report.notes,
    )
    return report


async def _run(
    store: Store,
    network: PullTarget,
    client: OcpiClient,
    url: str,
    report: SyncReport,
    redis: Redis | None,
) -> None:
    async with store.transaction() as tx:
        run = await pulls.start_run(
            tx,
            network_id=network.id,
            module=report.module,
            kind=report.kind,
            last_ok=network.last_ok.get(report.module),
            incremental_margin=INCREMENTAL_MARGIN,
            resume_within=RESUME_WITHIN,
        )
    report.run_id = run.id
    report.resumed = run.resume_url is not None
    params = {"date_from": transport.format_timestamp(run.date_from)} if run.date_from else None
    default_party = network.parties[0] if len(network.parties) == 1 else (None, None)
    pages = client.pages(run.resume_url or url, None if run.resume_url else params)
    next_page: asyncio.Task[Page | None] = asyncio.create_task(_next(pages))
    normaliser = _Normalising(network, default_party, report.module)
    previous: tuple[Page, asyncio.Future[Normalised]] | None = None
    failure: Exception | None = None
    try:
        while True:
            waited = time.perf_counter()
            try:
                page = await next_page
            except (OcpiError, httpx.HTTPError, OSError) as exc:
                # The pages already fetched are still applied; the run resumes after them.
                failure, page = exc, None
            report.stage_seconds["fetch_wait"] += time.perf_counter() - waited
            current = None
            if page is not None:
                if page.total_count is not None:
                    report.total_count = page.total_count
                # Three stages overlap: the next page is fetched, this one normalised (in a
                # worker process for big feeds) and the previous one applied.
                current = (page, normaliser.submit(page, report.total_count))
                next_page = asyncio.create_task(_next(pages))
            if previous is not None:
                done_page, normalised = previous
                waited = time.perf_counter()
                records = await normalised
                applying = time.perf_counter()
                report.stage_seconds["normalise_wait"] += applying - waited
                result = await _apply_page(store, network, done_page, records, report)
                report.stage_seconds["apply"] += time.perf_counter() - applying
                if redis is not None and result.status_changes:
                    await publish(redis, availability_events(result, datetime.now(UTC)))
            previous = current
            if page is None:
                break
        if failure is not None:
            report.error = str(failure)
            async with store.transaction() as tx:
                await pulls.mark_failed(tx, run.id, report.error)
            return
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await asyncio.shield(_mark_failed(store, run.id, "interrupted"))
        raise
    finally:
        normaliser.close()
        if not next_page.done():
            next_page.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await next_page
    async with store.transaction() as tx:
        if report.kind == "full":
            if report.module == "locations":
                hidden = await hide_absent_after_full_sync(
                    tx, network_id=network.id, sync_run_id=run.id
                )
                report.hidden_absent = len(hidden)
            elif report.module == "tariffs":
                report.hidden_absent = await hide_absent_tariffs(
                    tx, network_id=network.id, sync_run_id=run.id
                )
        await pulls.complete_run(tx, run, network_id=network.id, hidden_absent=report.hidden_absent)
    report.complete = True


async def _mark_failed(store: Store, run_id: int, error: str) -> None:
    async with store.transaction() as tx:
        await pulls.mark_failed(tx, run_id, error)


async def _next(pages: Any) -> Page | None:
    try:
        page: Page = await pages.__anext__()
    except StopAsyncIteration:
        return None
    return page


Normalised = tuple[list[Any], list[Problem]]  # records of the module, problems
# Above this many objects a feed is normalised in a worker process, beside the database work.
WORKER_THRESHOLD = 20_000


def normalise_objects(module: str, ctx: IngestContext, objects: list[bytes]) -> Normalised:
    """One page's objects → (locations, tariffs, problems). Runs in a worker process for big
    feeds, so it takes and returns only picklable values."""
    if module == "locations":
        locations, problems = Normaliser(ctx).locations(objects)
        return locations, problems
    problems = []
    if module == "hubclientinfo":
        infos = [read_client_info(raw, problems) for raw in objects]
        return [info for info in infos if info is not None], problems
    tariffs = []
    for raw in objects:
        tariff = normalise_tariff(
            raw,
            country_code=ctx.country_code,
            party_id=ctx.party_id,
            received_at=ctx.received_at,
            problems=problems,
            ocpi_version=ctx.ocpi_version,
        )
        if tariff is not None:
            tariffs.append(tariff)
    return tariffs, problems


# A worker's page crosses the process boundary as MessagePack decoded into the module's typed
# records: pickle rebuilds every struct field by field through Python and cost the pull as much
# CPU as a third of normalising (dumps in the worker, ``rebuild`` in the parent), this a tenth.
_PACKER = msgspec.msgpack.Encoder()
_UNPACKERS: dict[str, msgspec.msgpack.Decoder[Any]] = {
    "locations": msgspec.msgpack.Decoder(tuple[list[LocationRecord], list[Problem]]),
    "tariffs": msgspec.msgpack.Decoder(tuple[list[TariffRecord], list[Problem]]),
    "hubclientinfo": msgspec.msgpack.Decoder(tuple[list[ClientInfo], list[Problem]]),
}


def normalise_packed(module: str, ctx: IngestContext, objects: list[bytes]) -> bytes:
    """``normalise_objects`` in a worker process, its result packed for ``unpack_normalised``."""
    return _PACKER.encode(normalise_objects(module, ctx, objects))


def unpack_normalised(module: str, packed: bytes) -> Normalised:
    # A page decodes into some 50,000 objects at once, none of them garbage: the cycle collector
    # is held off while it does (its passes over them took as long as the decoding itself).
    collecting = gc.isenabled()
    gc.disable()
    try:
        records, problems = _UNPACKERS[module].decode(packed)
    finally:
        if collecting:
            gc.enable()
    return records, problems


class _Normalising:
    def __init__(
        self, network: PullTarget, default_party: tuple[str | None, str | None], module: str
    ) -> None:
        self._network = network
        self._party = default_party
        self._module = module
        self._executor: ProcessPoolExecutor | None = None

    def submit(self, page: Page, total_count: int | None) -> asyncio.Future[Normalised]:
        loop = asyncio.get_running_loop()
        ctx = IngestContext(
            network_id=self._network.id,
            source="pull",
            ocpi_version=self._network.version,
            country_code=self._party[0],
            party_id=self._party[1],
            received_at=datetime.now(UTC),
        )
        if self._executor is None and (total_count or 0) >= WORKER_THRESHOLD:
            self._executor = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("forkserver")
            )
        if self._executor is not None:
            packed = loop.run_in_executor(
                self._executor, normalise_packed, self._module, ctx, page.objects
            )
            return asyncio.ensure_future(self._unpacked(packed))
        done: asyncio.Future[Normalised] = loop.create_future()
        done.set_result(normalise_objects(self._module, ctx, page.objects))
        return done

    async def _unpacked(self, packed: asyncio.Future[bytes]) -> Normalised:
        return unpack_normalised(self._module, await packed)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


async def _apply_page(
    store: Store,
    network: PullTarget,
    page: Page,
    normalised: Normalised,
    report: SyncReport,
) -> ApplyResult:
    """One page in one transaction: its objects written, its problems recorded, its counts and
    the run's progress kept. Objects of a party this network may not write (another network
    owns it) are refused with that reason, the rest of the page is kept (issue 10)."""
    received_at = datetime.now(UTC)
    full_run = report.kind == "full"
    assert report.run_id is not None
    result = ApplyResult()
    records, problems = normalised
    counts = pulls.PageCounts(objects=len(page.objects))
    async with store.transaction() as tx:
        if report.module in ("locations", "tariffs"):
            records = await _writable(tx, network, report.module, records, problems)
        if report.module == "locations":
            result = await apply_locations(
                tx,
                records,
                network_id=network.id,
                ocpi_version=network.version,
                received_at=received_at,
                sync_run_id=report.run_id if full_run else None,
            )
            counts.accepted, counts.unchanged = result.applied, result.unchanged
            counts.skipped_older = result.stale
            counts.evses = sum(len(loc.evses) for loc in records)
        elif report.module == "tariffs":
            done = await apply_tariffs(
                tx,
                records,
                network_id=network.id,
                received_at=received_at,
                sync_run_id=report.run_id if full_run else None,
            )
            counts.accepted, counts.unchanged = done.accepted, done.unchanged
            counts.skipped_older = done.stale
        else:
            clients = await networks.apply_client_info(
                tx,
                network.id,
                [networks.ClientInfoRow(*msgspec.structs.astuple(info)) for info in records],
            )
            counts.accepted, counts.unchanged = clients.written, clients.unchanged
            counts.skipped_older = clients.older
        counts.quarantined = sum(
            1 for p in problems if p.severity == "rejected" and p.object_kind in _OBJECT_KINDS
        )
        await record_problems(tx, problems, network_id=network.id, source="pull")
        notes = [page.note] if page.note else []
        await pulls.record_page(tx, report.run_id, counts, next_url=page.next_url, notes=notes)
    report.pages += 1
    report.objects += counts.objects
    report.accepted += counts.accepted
    report.unchanged += counts.unchanged
    report.skipped_older += counts.skipped_older
    report.quarantined += counts.quarantined
    report.evses += counts.evses
    report.notes.extend(notes)
    return result


# The problems that stand for a whole object of a page (an EVSE's problem costs its EVSE only).
_OBJECT_KINDS = ("location", "tariff", "hubclientinfo")


async def _writable(
    tx: Tx, network: PullTarget, module: str, records: list[Any], problems: list[Problem]
) -> list[Any]:
    """The records of parties the network may write; the others become problems naming the
    network that owns the party."""
    kind = "location" if module == "locations" else "tariff"
    refused = await networks.writable_parties(
        tx, network.id, [(r.country_code, r.party_id) for r in records]
    )
    if not refused:
        return records
    kept = []
    for record in records:
        reason = refused.get((record.country_code, record.party_id))
        if reason is None:
            kept.append(record)
            continue
        raw = record.raw if isinstance(record.raw, bytes) else msgspec.json.encode(record.raw)
        problems.append(Problem(kind, record.key, f"{reason}: not written", raw=raw))
    return kept


async def pull_object(
    store: Store,
    network_id: int,
    location_id: str,
    *,
    http: httpx.AsyncClient | None = None,
) -> ApplyResult:
    """GET one location from the network and apply it (repair after a failed PATCH, P-§3.3)."""
    network = await pulls.pull_target(store, network_id)
    url = endpoint_url(network.endpoints, "locations", "SENDER")
    if url is None or not network.token:
        raise SyncImpossible(f"network {network.name} cannot be pulled from")
    async with OcpiClient(network.token, auth_encoding=network.auth_encoding, http=http) as client:
        # ``page`` takes the object, or the list of one some peers answer with (extrawest-ocpi)
        page = await client.page(f"{url.rstrip('/')}/{location_id}")
    if len(page.objects) != 1:
        raise OcpiError(f"GET {page.url}: {len(page.objects)} objects where one location was due")
    received_at = datetime.now(UTC)
    default = network.parties[0] if len(network.parties) == 1 else (None, None)
    normaliser = Normaliser(
        IngestContext(
            network_id=network.id,
            source="pull",
            ocpi_version=network.version,
            country_code=default[0],
            party_id=default[1],
            received_at=received_at,
        )
    )
    accepted, problems = normaliser.locations(page.objects)
    async with store.transaction() as tx:
        await record_problems(tx, problems, network_id=network.id, source="pull")
        return await apply_locations(
            tx,
            accepted,
            network_id=network.id,
            ocpi_version=network.version,
            received_at=received_at,
        )
