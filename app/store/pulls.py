"""What the store keeps about pulls (ocpi.md §1.7, P8-P11): one ``sync_runs`` row per run of a
module, its progress page by page (so a failed full pull resumes where it stopped), and which
networks are due for a pull."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from app.store.core import Db, Tx, using
from app.store.errors import StoreError
from app.store.networks import get_network
from app.store.pull_status import PULLED_MODULES


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
    parties: list[tuple[str, str]]  # the parties it names in its credentials
    last_ok: dict[str, datetime]  # per module: start of the last complete run
    # The party its functional-module requests are addressed to (OCPI-to-*): its hub party,
    # else its first CPO party (ocpi.md §1.9: "GET All via hub" goes to the hub).
    addressed: tuple[str, str] | None = None


async def pull_target(db: Db, network_id: int) -> PullTarget:
    row = await get_network(db, network_id)
    async with using(db) as conn:
        cur = await conn.execute(
            "SELECT country_code, party_id, role FROM network_parties WHERE network_id = %s"
            " AND owner ORDER BY role <> 'HUB', role <> 'CPO', 1, 2",
            (network_id,),
        )
        rows = await cur.fetchall()
        parties = sorted((r[0], r[1]) for r in rows)
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
        addressed=(rows[0][0], rows[0][1]) if rows else None,
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
    return Run(row[0], row[1], None, date_from)


@dataclass
class PageCounts:
    """What one applied page did with its objects: ``accepted + unchanged + skipped_older +
    quarantined = objects``."""

    objects: int = 0
    accepted: int = 0
    unchanged: int = 0
    skipped_older: int = 0
    quarantined: int = 0
    evses: int = 0


async def record_page(
    tx: Tx, run_id: int, counts: PageCounts, *, next_url: str | None, notes: Sequence[str] = ()
) -> None:
    """One applied page: its counts, and where the run goes on (in the page's transaction)."""
    await tx.conn.execute(
        """
        UPDATE sync_runs SET pages = pages + 1, objects = objects + %s,
            accepted = accepted + %s, unchanged = unchanged + %s,
            skipped_older = skipped_older + %s, quarantined = quarantined + %s,
            evses = evses + %s, next_url = %s, notes = notes || %s
        WHERE id = %s
        """,
        (
            counts.objects,
            counts.accepted,
            counts.unchanged,
            counts.skipped_older,
            counts.quarantined,
            counts.evses,
            next_url,
            Jsonb(list(notes)),
            run_id,
        ),
    )


async def add_note(tx: Tx, run_id: int, note: str) -> None:
    """Something the run worked around (a broken ``Link`` header, a missing endpoint)."""
    await tx.conn.execute(
        "UPDATE sync_runs SET notes = notes || %s WHERE id = %s", (Jsonb([note]), run_id)
    )


async def mark_failed(tx: Tx, run_id: int, error: str) -> None:
    """A run that stopped early keeps its next_url: the next full run resumes from there."""
    await tx.conn.execute(
        "UPDATE sync_runs SET status = 'failed', finished_at = now(), error = %s WHERE id = %s",
        (error, run_id),
    )


async def complete_run(tx: Tx, run: Run, *, network_id: int, hidden_absent: int) -> None:
    await tx.conn.execute(
        "UPDATE sync_runs SET status = 'complete', finished_at = now(), next_url = NULL,"
        " hidden_absent = %s WHERE id = %s",
        (hidden_absent, run.id),
    )
    await tx.conn.execute(
        "UPDATE networks SET last_contact_at = greatest(last_contact_at, now()) WHERE id = %s",
        (network_id,),
    )


_DUE = """
WITH modules AS (
    -- What each pullable network serves: its SENDER endpoints of the modules we pull (an
    -- endpoint without a role is one: 2.1.1 lists none).
    SELECT n.id AS network_id, n.name, n.pull_interval_s, n.full_pull_interval_s, e.module
    FROM networks n
    CROSS JOIN LATERAL (
        SELECT DISTINCT lower(x->>'identifier') AS module
        FROM jsonb_array_elements(n.endpoints) x
        WHERE lower(x->>'identifier') = ANY(%(modules)s)
          AND upper(coalesce(x->>'role', 'SENDER')) = 'SENDER') e
    WHERE n.kind = 'ocpi' AND n.status IN ('REGISTERED', 'STATIC')
      AND n.outbound_token IS NOT NULL
), state AS (
    SELECT m.*, last.started_at AS last_attempt_at, last.status AS last_status,
           (SELECT max(started_at) FROM sync_runs r
            WHERE r.network_id = m.network_id AND r.module = m.module
              AND r.status = 'complete' AND r.kind = 'full') AS last_full_ok_at
    FROM modules m
    LEFT JOIN LATERAL (
        SELECT started_at, status FROM sync_runs r
        WHERE r.network_id = m.network_id AND r.module = m.module
        ORDER BY started_at DESC LIMIT 1) last ON true
), verdict AS (
    SELECT network_id, name, module, last_attempt_at,
           last_full_ok_at IS NULL
           OR last_full_ok_at < now() - make_interval(secs => coalesce(full_pull_interval_s,
                                                                       %(full)s)) AS full_due,
           last_attempt_at IS NULL
           OR (last_status <> 'complete'
               AND last_attempt_at < now() - make_interval(secs => %(retry)s))
           OR last_attempt_at < now() - make_interval(secs => coalesce(pull_interval_s,
                                                                      %(incremental)s)) AS due
    FROM state
)
SELECT network_id, name, bool_or(full_due), array_agg(module ORDER BY module),
       (SELECT coalesce(max(r.id), 0) FROM sync_runs r WHERE r.network_id = verdict.network_id)
FROM verdict
GROUP BY network_id, name
HAVING bool_or(due) AND bool_or(module = 'locations')
ORDER BY min(last_attempt_at) NULLS FIRST
"""


@dataclass(frozen=True)
class DuePull:
    network_id: int
    name: str
    full: bool
    modules: tuple[str, ...]  # every module it serves that we pull
    # The newest run of the network when it was found due: a run after it means another
    # process pulled the network meanwhile (``ran_after_any``).
    seen_run_id: int = 0


async def due(db: Db, *, full_s: int, incremental_s: int, retry_s: int) -> list[DuePull]:
    """Networks due for a pull: one of its modules never pulled, failed ``retry_s`` ago, or
    its interval (the network's own, else the given defaults) passed; most overdue first. A
    full pull when any module's last complete full pull is older than the full interval."""
    async with using(db) as conn:
        cur = await conn.execute(
            _DUE,
            {
                "full": full_s,
                "incremental": incremental_s,
                "retry": retry_s,
                "modules": list(PULLED_MODULES),
            },
        )
        return [DuePull(r[0], r[1], bool(r[2]), tuple(r[3]), r[4]) for r in await cur.fetchall()]


async def ran_after_any(db: Db, network_id: int, run_id: int) -> bool:
    """Any run of the network began after run ``run_id``."""
    async with using(db) as conn:
        cur = await conn.execute(
            "SELECT EXISTS (SELECT 1 FROM sync_runs WHERE network_id = %s AND id > %s)",
            (network_id, run_id),
        )
        row = await cur.fetchone()
        return bool(row and row[0])
