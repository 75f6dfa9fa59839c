"""What the store keeps about pulls (ocpi.md §1.7, P8-P11): one ``sync_runs`` row per run of a
module, its progress page by page (so a failed full pull resumes where it stopped), and which
networks are due for a pull."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.store.core import Db, Tx, using
from app.store.errors import StoreError
from app.store.networks import get_network


class PullImpossible(StoreError):
    """The network cannot be pulled from (revoked, no endpoint, no token)."""


@dataclass
class PullTarget:
    """What a pull of one network needs to know."""

    id: int
    name: str
    version: str | None
    token: str | None
    auth_encoding: str
    endpoints: list[dict[str, Any]]
    parties: list[tuple[str, str]]
    last_ok: dict[str, datetime]  # per module: start of the last complete run


async def pull_target(db: Db, network_id: int) -> PullTarget:
    row = await get_network(db, network_id)
    async with using(db) as conn:
        cur = await conn.execute(
            "SELECT country_code, party_id FROM network_parties WHERE network_id = %s"
            " ORDER BY 1, 2",
            (network_id,),
        )
        parties = [(r[0], r[1]) for r in await cur.fetchall()]
        cur = await conn.execute(
            "SELECT module, max(started_at) FROM sync_runs WHERE network_id = %s"
            " AND status = 'complete' GROUP BY module",
            (network_id,),
        )
        last_ok = {r[0]: r[1] for r in await cur.fetchall()}
    if row["status"] == "REVOKED":
        raise PullImpossible(f"network {row['name']} is revoked")
    return PullTarget(
        id=row["id"],
        name=row["name"],
        version=row["ocpi_version"],
        token=row["outbound_token"],
        auth_encoding=row["outbound_auth"],
        endpoints=list(row["endpoints"] or []),
        parties=parties,
        last_ok=last_ok,
    )


@dataclass
class Run:
    id: int
    started_at: datetime
    resume_url: str | None  # a failed full run resumed from this page
    date_from: datetime | None  # an incremental run asks for changes since


async def start_run(
    tx: Tx,
    *,
    network_id: int,
    module: str,
    kind: str,
    last_ok: datetime | None,
    incremental_margin: timedelta,
    resume_within: timedelta,
) -> Run:
    """A new run, or the failed (or interrupted) full run of the last ``resume_within`` to
    resume, when no complete full run came after it."""
    if kind == "full":
        cur = await tx.conn.execute(
            """
            SELECT id, next_url, started_at FROM sync_runs
            WHERE network_id = %s AND module = %s AND kind = 'full'
              -- 'running' here is a run whose process died: the caller holds the network's lock.
              AND status IN ('failed', 'running')
              AND next_url IS NOT NULL AND started_at > now() - %s
              AND NOT EXISTS (
                  SELECT 1 FROM sync_runs later
                  WHERE later.network_id = sync_runs.network_id
                    AND later.module = sync_runs.module AND later.kind = 'full'
                    AND later.status = 'complete' AND later.started_at > sync_runs.started_at)
            ORDER BY started_at DESC LIMIT 1
            """,
            (network_id, module, resume_within),
        )
        row = await cur.fetchone()
        if row is not None:
            await tx.conn.execute(
                "UPDATE sync_runs SET status = 'running', error = NULL WHERE id = %s", (row[0],)
            )
            return Run(row[0], row[2], row[1], None)
    date_from = None
    if kind == "incremental" and last_ok is not None:
        date_from = last_ok - incremental_margin
    cur = await tx.conn.execute(
        "INSERT INTO sync_runs (network_id, module, kind, date_from) VALUES (%s, %s, %s, %s)"
        " RETURNING id, started_at",
        (network_id, module, kind, date_from),
    )
    row = await cur.fetchone()
    assert row is not None
    await tx.conn.execute(
        "UPDATE networks SET last_pull_attempt_at = now() WHERE id = %s", (network_id,)
    )
    return Run(row[0], row[1], None, date_from)


async def record_page(
    tx: Tx,
    run_id: int,
    *,
    objects: int,
    accepted: int,
    quarantined: int,
    evses: int,
    next_url: str | None,
) -> None:
    """One applied page: its counts, and where the run goes on (in the page's transaction)."""
    await tx.conn.execute(
        """
        UPDATE sync_runs SET pages = pages + 1, objects = objects + %s,
            accepted = accepted + %s, quarantined = quarantined + %s, evses = evses + %s,
            next_url = %s
        WHERE id = %s
        """,
        (objects, accepted, quarantined, evses, next_url, run_id),
    )


async def mark_failed(tx: Tx, run_id: int, network_id: int, error: str) -> None:
    """A run that stopped early keeps its next_url: the next full run resumes from there."""
    await tx.conn.execute(
        "UPDATE sync_runs SET status = 'failed', finished_at = now(), error = %s WHERE id = %s",
        (error, run_id),
    )
    await tx.conn.execute(
        "UPDATE networks SET last_pull_error = %s WHERE id = %s", (error, network_id)
    )


async def complete_run(
    tx: Tx, run: Run, *, network_id: int, full: bool, hidden_absent: int
) -> None:
    await tx.conn.execute(
        "UPDATE sync_runs SET status = 'complete', finished_at = now(), next_url = NULL,"
        " hidden_absent = %s WHERE id = %s",
        (hidden_absent, run.id),
    )
    await tx.conn.execute(
        """
        UPDATE networks SET last_pull_ok_at = %(started)s, last_pull_error = NULL,
            last_full_pull_ok_at = CASE WHEN %(full)s THEN %(started)s
                                        ELSE last_full_pull_ok_at END,
            last_contact_at = greatest(last_contact_at, now())
        WHERE id = %(id)s
        """,
        {"started": run.started_at, "full": full, "id": network_id},
    )


_DUE = """
SELECT n.id, n.name,
       n.last_full_pull_ok_at IS NULL
       OR n.last_full_pull_ok_at < now() - make_interval(secs => coalesce(n.full_pull_interval_s,
                                                                         %(full)s)) AS full,
       EXISTS (SELECT 1 FROM jsonb_array_elements(n.endpoints) e
               WHERE e->>'identifier' = 'tariffs' AND coalesce(e->>'role', 'SENDER') = 'SENDER')
           AS has_tariffs
FROM networks n
WHERE n.kind = 'ocpi' AND n.status IN ('REGISTERED', 'STATIC') AND n.outbound_token IS NOT NULL
  AND EXISTS (SELECT 1 FROM jsonb_array_elements(n.endpoints) e
              WHERE e->>'identifier' = 'locations' AND coalesce(e->>'role', 'SENDER') = 'SENDER')
  AND (n.last_pull_attempt_at IS NULL
       OR (n.last_pull_error IS NOT NULL
           AND n.last_pull_attempt_at < now() - make_interval(secs => %(retry)s))
       OR n.last_pull_attempt_at < now() - make_interval(secs => coalesce(n.pull_interval_s,
                                                                         %(incremental)s)))
ORDER BY n.last_pull_attempt_at NULLS FIRST
"""


@dataclass(frozen=True)
class DuePull:
    network_id: int
    name: str
    full: bool
    has_tariffs: bool


async def due(db: Db, *, full_s: int, incremental_s: int, retry_s: int) -> list[DuePull]:
    """Networks due for a pull: never pulled, a failed pull ``retry_s`` ago, or their interval
    (their own, else the given defaults) passed; most overdue first."""
    async with using(db) as conn:
        cur = await conn.execute(
            _DUE, {"full": full_s, "incremental": incremental_s, "retry": retry_s}
        )
        return [DuePull(*row) for row in await cur.fetchall()]
