"""Durable before acknowledged, at thousands of pushes per second (architecture.md).

Every push becomes an operation on one queue per process. A few writer tasks each take whatever
has queued up, apply it in one transaction (EVSE status PATCHes set-based, other writes one by
one in savepoints, in arrival order), commit, and only then resolve each push's future: the HTTP
answer (status 1000) is sent after the change is committed in PostgreSQL. Under load the batches
grow by themselves, so one commit (one WAL flush) covers many pushes; while one batch waits for
the database the next is already being written. Concurrent batches cannot undo each other:
every write is ordered by ``last_updated``, and a status batch locks its locations in id order.
The resulting events are published to Redis by one more task, off the acknowledgement's path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.asyncio import Redis

from app.live.events import AvailabilityEvent, availability_events, publish
from app.live.tasks import cancel_and_wait
from app.logs import get_logger
from app.store import Conflict, RejectedData, Store, StoreError, Tx, locks, networks
from app.store.locations import ApplyResult
from app.store.networks import Grant
from ingest.ocpi import transport
from ingest.receiver.operations import Outcome, Pusher, StatusPatch, invalid, status_patches

log = get_logger(__name__)

# The token was revoked, or the party moved to another network, after the request was let in.
REVOKED = Outcome(
    transport.CLIENT_ERROR, "this token may no longer write this party (revoked or moved)", 401
)
MAX_BATCH = 2000
WRITERS = 3  # transactions in flight per process
CONTACT_EVERY_S = 1.0
DEADLOCK_RETRIES = 3

Write = Callable[[Tx], Awaitable[Outcome]]


@dataclass
class _Op:
    future: asyncio.Future[Outcome]
    network_id: int
    version: str
    grant: Grant
    status_patch: StatusPatch | None = None
    write: Write | None = None
    objects: tuple[int, ...] = ()  # lock keys of what it writes


@dataclass
class WriterStats:
    batches: int = 0
    operations: int = 0
    largest_batch: int = 0
    failures: int = 0
    contacts: dict[int, datetime] = field(default_factory=dict)


class PushWriter:
    def __init__(
        self,
        store: Store,
        redis: Redis | None,
        on_committed: Callable[[list[AvailabilityEvent]], None] | None = None,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._redis = redis
        self._on_committed = on_committed
        self._on_lost = on_lost  # events that could not be published: live streams have a gap
        self._queue: asyncio.Queue[_Op] = asyncio.Queue()
        self._events: asyncio.Queue[list[AvailabilityEvent]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._touched: dict[int, datetime] = {}
        self.stats = WriterStats()

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._run(), name=f"push-writer-{i}") for i in range(WRITERS)
            ]
            self._tasks.append(asyncio.create_task(self._publish(), name="push-publisher"))

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        while not self._events.empty():  # committed changes still reach the live stream
            if not await publish(self._redis, self._events.get_nowait()) and self._on_lost:
                self._on_lost("changes could not be published (Redis unreachable)")
        while not self._queue.empty():
            op = self._queue.get_nowait()
            if not op.future.done():
                op.future.set_result(
                    Outcome(transport.SERVER_ERROR, "service is shutting down; retry", 503)
                )

    async def status_patch(self, item: StatusPatch) -> Outcome:
        grant = Grant(item.pusher.token_sha256, item.cc.upper(), item.pid.upper())
        key = locks.object_key("location", item.cc, item.pid, item.location_id)
        op = _Op(self._future(), item.pusher.network_id, item.pusher.version, grant, item)
        op.objects = (key,)
        return await self._submit(op)

    async def write(
        self, pusher: Pusher, grant: Grant, write: Write, objects: tuple[int, ...] = ()
    ) -> Outcome:
        return await self._submit(
            _Op(self._future(), pusher.network_id, pusher.version, grant, write=write,
                objects=objects)
        )  # fmt: skip

    def _future(self) -> asyncio.Future[Outcome]:
        return asyncio.get_running_loop().create_future()

    async def _submit(self, op: _Op) -> Outcome:
        self.start()
        self._queue.put_nowait(op)
        return await op.future

    async def _run(self) -> None:
        while True:
            ops = [await self._queue.get()]
            while len(ops) < MAX_BATCH and not self._queue.empty():
                ops.append(self._queue.get_nowait())
            try:
                await self._apply_batch(ops)
            except asyncio.CancelledError:
                # Shutting down mid-batch: its transaction is rolled back; every push in it
                # hears so (and retries), none waits for an answer that never comes.
                for op in ops:
                    if not op.future.done():
                        op.future.set_result(
                            Outcome(transport.SERVER_ERROR, "service is shutting down; retry", 503)
                        )
                raise
            except Exception as exc:
                self.stats.failures += 1
                if isinstance(exc, StoreError):
                    log.error("push.batch_failed", operations=len(ops), error=str(exc))
                else:
                    log.exception("push.batch_failed", operations=len(ops), error=str(exc))
                retry = exc.retry_after_s if isinstance(exc, StoreError) else None
                for op in ops:
                    if not op.future.done():
                        op.future.set_result(
                            Outcome(
                                transport.SERVER_ERROR,
                                "could not store the update; retry",
                                503,
                                retry_after_s=retry or 1.0,
                            )
                        )

    async def _apply_batch(self, ops: list[_Op]) -> None:
        isolate = False
        for attempt in range(DEADLOCK_RETRIES):
            try:
                result, outcomes = await self._transaction(ops, isolate=isolate)
                break
            except RejectedData as exc:
                # A value the database refuses in a set-based run of status PATCHes (the checks
                # before should have caught it): the batch again, each of them on its own, so
                # that only that push hears of it, never another network's good one.
                if isolate:
                    raise
                log.warning("push.batch_isolating", operations=len(ops), error=str(exc))
                isolate = True
            except Conflict:
                if attempt == DEADLOCK_RETRIES - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        events = availability_events(result, datetime.now(UTC), location_writes=True)
        if events and self._on_committed is not None:
            self._on_committed(events)  # this process's caches, before anyone hears "done"
        # Committed: now, and only now, the pushes are acknowledged.
        for op, outcome in zip(ops, outcomes, strict=True):
            if not op.future.done():
                op.future.set_result(outcome)
        self.stats.batches += 1
        self.stats.operations += len(ops)
        self.stats.largest_batch = max(self.stats.largest_batch, len(ops))
        if events:
            self._events.put_nowait(events)

    async def _publish(self) -> None:
        while True:
            events = await self._events.get()
            while not self._events.empty():  # one round trip for whatever has piled up
                events += self._events.get_nowait()
            if not await publish(self._redis, events) and self._on_lost is not None:
                self._on_lost("changes could not be published (Redis unreachable)")

    async def _transaction(
        self, ops: list[_Op], *, isolate: bool = False
    ) -> tuple[ApplyResult, list[Outcome]]:
        result = ApplyResult()
        outcomes: list[Outcome | None] = [None] * len(ops)
        async with self._store.transaction() as tx:
            # Everything the batch writes is locked first, in the one global order, so that
            # concurrent batches (and pulls) never deadlock whatever their operations' order.
            await locks.lock_objects(tx, (key for op in ops for key in op.objects))
            # The tokens and parties are checked again here, and locked: whatever a token cache
            # says, nothing is written after the revocation or the move that forbids it.
            held = await networks.grants_hold(tx, [op.grant for op in ops])
            for index, ok in enumerate(held):
                if not ok:
                    outcomes[index] = REVOKED
            run: list[tuple[int, StatusPatch]] = []

            async def flush_run() -> None:
                if not run:
                    return
                items = [item for _, item in run]
                result.merge(await self._status_run(tx, items, isolate=isolate))
                for index, item in run:
                    outcomes[index] = item.outcome or Outcome()
                run.clear()

            for index, op in enumerate(ops):
                if outcomes[index] is not None:
                    continue
                if op.status_patch is not None:
                    run.append((index, op.status_patch))
                    continue
                await flush_run()
                assert op.write is not None
                outcomes[index] = await self._guarded(tx, op, op.write, result)
            await flush_run()
            # Contact is recorded at most once a second per network and process: every batch
            # updating the one network row would make concurrent batches queue for its lock.
            now = datetime.now(UTC)
            touched = []
            for network_id in sorted({op.network_id for op in ops}):
                last = self._touched.get(network_id)
                if last is None or (now - last).total_seconds() >= CONTACT_EVERY_S:
                    await networks.touch(tx, network_id, push=True, at=now)
                    touched.append(network_id)
        for network_id in touched:  # committed: only now does the next second's batch skip it
            self._touched[network_id] = now
        return result, [o or Outcome() for o in outcomes]

    @staticmethod
    async def _status_run(tx: Tx, items: list[StatusPatch], *, isolate: bool) -> ApplyResult:
        """A run of status PATCHes: set-based, or (``isolate``) one by one in savepoints, a
        refused value costing only its own push (OCPI 2001)."""
        for item in items:
            item.outcome = None
        if not isolate:
            return await status_patches(tx, items)
        result = ApplyResult()
        for item in items:
            try:
                async with tx.savepoint():
                    result.merge(await status_patches(tx, [item]))
            except RejectedData as exc:
                item.outcome = invalid(f"the update cannot be stored: {exc}", item.pusher.version)
        return result

    @staticmethod
    async def _guarded(tx: Tx, op: _Op, write: Write, result: ApplyResult) -> Outcome:
        """One write in a savepoint: its failure costs that push, not the batch."""
        try:
            async with tx.savepoint():
                outcome = await write(tx)
        except Conflict:
            raise  # the whole batch is retried
        except RejectedData as exc:
            # Permanent: the same push will never be storable (OCPI 2001, not "retry").
            log.warning("push.rejected_by_database", network_id=op.network_id, error=str(exc))
            return invalid(f"the update cannot be stored: {exc}", op.version)
        except StoreError as exc:
            log.error("push.write_failed", network_id=op.network_id, error=str(exc))
            return Outcome(
                transport.SERVER_ERROR,
                "could not store the update; retry",
                503,
                retry_after_s=exc.retry_after_s or 1.0,
            )
        if outcome.result is not None:
            result.merge(outcome.result)
        return outcome
