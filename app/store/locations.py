"""Locations in the store: normalised records applied idempotently, ordered by
``last_updated``, set-based; EVSE status patches for a whole batch of pushes; the stored tree
read back in OCPI form.

One call applies a batch inside the caller's transaction (``Tx``). Locations are staged with
COPY into session-local temp tables and merged with a handful of statements (``sql/*.sql``), so
a page of 500 locations costs the same few round trips as one. Every write refreshes the search
projection of the locations it touched and reports the availability changes for the live stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from app.domain.status import BucketCounts
from app.store import locks
from app.store.copying import use_fast_dumpers
from app.store.core import Db, Tx, using
from app.store.records import LocationRecord

SQL_DIR = Path(__file__).resolve().parent / "sql"


@cache
def sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


class LocationState(NamedTuple):
    """A location's availability after a write: what the live stream publishes (a tuple: built
    by the thousand from result rows)."""

    location_pk: int
    public_id: str
    lat: float
    lon: float
    h3_r5: int
    h3_r7: int
    visible: bool
    counts: BucketCounts
    # Only EVSE statuses moved (every EVSE kept its visibility): caches of the location's
    # place and structure stay valid.
    status_only: bool

    @classmethod
    def from_row(cls, row: Any) -> LocationState:
        """From the columns the projection statements return: pk, public_id, lat, lon, h3_r5,
        h3_r7, visible, the six counts, status_only."""
        pk, public_id, lat, lon, h3_r5, h3_r7, visible = row[:7]
        counts = BucketCounts(*row[7:13])
        return cls(pk, public_id, lat, lon, h3_r5, h3_r7, visible, counts, row[13])


@dataclass(frozen=True, slots=True)
class StatusChange:
    location_pk: int
    evse_uid: str
    old_status: str | None
    new_status: str


@dataclass
class ApplyResult:
    applied: int = 0
    stale: int = 0  # locations whose own fields were older than stored
    partial: int = 0  # of those, the ones with a newer EVSE written all the same
    unchanged: int = 0
    evses: int = 0
    status_changes: list[StatusChange] = field(default_factory=list)
    states: list[LocationState] = field(default_factory=list)

    def merge(self, other: ApplyResult) -> None:
        self.applied += other.applied
        self.stale += other.stale
        self.partial += other.partial
        self.unchanged += other.unchanged
        self.evses += other.evses
        self.status_changes.extend(other.status_changes)
        self.states.extend(other.states)


# Binary COPY: the column list and the PostgreSQL type of each value, in order.
_LOCATION_STAGE = (
    ("idx", "int4"),
    ("public_id", "text"),
    ("country_code", "text"),
    ("party_id", "text"),
    ("ocpi_id", "text"),
    ("ocpi_id_raw", "text"),
    ("publish", "bool"),
    ("name", "text"),
    ("address", "text"),
    ("city", "text"),
    ("postal_code", "text"),
    ("state", "text"),
    ("country", "text"),
    ("lat", "float8"),
    ("lon", "float8"),
    ("region_key", "int8"),
    ("h3_r3", "int8"),
    ("h3_r4", "int8"),
    ("h3_r5", "int8"),
    ("h3_r6", "int8"),
    ("h3_r7", "int8"),
    ("h3_r8", "int8"),
    ("h3_r9", "int8"),
    ("parking_type", "text"),
    ("facilities", "text[]"),
    ("operator_name", "text"),
    ("suboperator_name", "text"),
    ("owner_name", "text"),
    ("time_zone", "text"),
    ("opening_times", "text"),
    ("open_24_7", "bool"),
    ("charging_when_closed", "bool"),
    ("search_text", "text"),
    ("evse_count", "int4"),
    ("available_count", "int4"),
    ("occupied_count", "int4"),
    ("out_of_service_count", "int4"),
    ("unknown_count", "int4"),
    ("planned_count", "int4"),
    ("max_power_kw", "float8"),
    ("connector_standards", "text[]"),
    ("power_types", "text[]"),
    ("connector_groups", "text"),
    ("tariff_links", "text"),
    ("sort_key", "int8"),
    ("status_updated_at", "timestamptz"),
    ("last_updated", "timestamptz"),
    ("own_updated_at", "timestamptz"),
    ("content_hash", "bytea"),
    ("raw", "text"),
)
_EVSE_STAGE = (
    ("loc_idx", "int4"),
    ("uid", "text"),
    ("uid_raw", "text"),
    ("evse_id", "text"),
    ("status", "text"),
    ("status_raw", "text"),
    ("status_bucket", "text"),
    ("capabilities", "text[]"),
    ("parking_restrictions", "text[]"),
    ("floor_level", "text"),
    ("physical_reference", "text"),
    ("lat", "float8"),
    ("lon", "float8"),
    ("max_power_kw", "float8"),
    ("connector_standards", "text[]"),
    ("power_types", "text[]"),
    ("visible", "bool"),
    ("hidden_reason", "text"),
    ("last_updated", "timestamptz"),
    ("content_hash", "bytea"),
    ("raw", "text"),
)
_CONNECTOR_STAGE = (
    ("loc_idx", "int4"),
    ("evse_uid", "text"),
    ("connector_id", "text"),
    ("connector_id_raw", "text"),
    ("standard", "text"),
    ("standard_raw", "text"),
    ("format", "text"),
    ("power_type", "text"),
    ("max_voltage", "int4"),
    ("max_amperage", "int4"),
    ("max_electric_power_w", "int4"),
    ("max_power_kw", "float8"),
    ("tariff_ids", "text[]"),
    ("terms_and_conditions", "text"),
    ("last_updated", "timestamptz"),
    ("content_hash", "bytea"),
    ("raw", "text"),
)


def _copy_sql(table: str, columns: tuple[tuple[str, str], ...]) -> str:
    names = ", ".join(name for name, _ in columns)
    return f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)"


def _types(columns: tuple[tuple[str, str], ...]) -> list[str]:
    return [kind for _, kind in columns]


async def _ensure_stage_tables(tx: Tx) -> None:
    """The session's staging tables, created once per connection and emptied for each apply."""
    await tx.conn.execute(sql("stage_tables"))


async def _stage_locations(tx: Tx, locations: Sequence[LocationRecord]) -> int:
    """COPY the batch into the staging tables; returns the number of EVSEs staged."""
    evse_count = 0
    async with tx.conn.cursor() as cur:
        use_fast_dumpers(cur)
        async with cur.copy(_copy_sql("stage_locations", _LOCATION_STAGE)) as copy:
            copy.set_types(_types(_LOCATION_STAGE))
            for idx, loc in enumerate(locations):
                await copy.write_row(
                    (
                        idx,
                        loc.public_id,
                        loc.country_code,
                        loc.party_id,
                        loc.ocpi_id,
                        loc.ocpi_id_raw,
                        loc.publish,
                        loc.name,
                        loc.address,
                        loc.city,
                        loc.postal_code,
                        loc.state,
                        loc.country,
                        loc.lat,
                        loc.lon,
                        loc.region_key,
                        *loc.h3_cells,
                        loc.parking_type,
                        loc.facilities,
                        loc.operator_name,
                        loc.suboperator_name,
                        loc.owner_name,
                        loc.time_zone,
                        loc.opening_times.decode() if loc.opening_times is not None else None,
                        loc.open_24_7,
                        loc.charging_when_closed,
                        loc.search_text,
                        loc.evse_count,
                        loc.available_count,
                        loc.occupied_count,
                        loc.out_of_service_count,
                        loc.unknown_count,
                        loc.planned_count,
                        loc.max_power_kw,
                        loc.connector_standards,
                        loc.power_types,
                        loc.connector_groups.decode(),
                        loc.tariff_links.decode(),
                        loc.sort_key,
                        loc.status_updated_at,
                        loc.last_updated,
                        loc.own_updated_at or loc.last_updated,
                        loc.content_hash,
                        (loc.stored_raw or loc.raw).decode(),
                    )
                )
        async with cur.copy(_copy_sql("stage_evses", _EVSE_STAGE)) as copy:
            copy.set_types(_types(_EVSE_STAGE))
            for idx, loc in enumerate(locations):
                for evse in loc.evses:
                    evse_count += 1
                    await copy.write_row(
                        (
                            idx,
                            evse.uid,
                            evse.uid_raw,
                            evse.evse_id,
                            evse.status,
                            evse.status_raw,
                            evse.status_bucket,
                            evse.capabilities,
                            evse.parking_restrictions,
                            evse.floor_level,
                            evse.physical_reference,
                            evse.lat,
                            evse.lon,
                            evse.max_power_kw,
                            evse.connector_standards,
                            evse.power_types,
                            evse.visible,
                            evse.hidden_reason,
                            evse.last_updated,
                            evse.content_hash,
                            (evse.stored_raw or evse.raw).decode(),
                        )
                    )
        async with cur.copy(_copy_sql("stage_connectors", _CONNECTOR_STAGE)) as copy:
            copy.set_types(_types(_CONNECTOR_STAGE))
            for idx, loc in enumerate(locations):
                for evse in loc.evses:
                    for c in evse.connectors:
                        await copy.write_row(
                            (
                                idx,
                                evse.uid,
                                c.connector_id,
                                c.connector_id_raw,
                                c.standard,
                                c.standard_raw,
                                c.format,
                                c.power_type,
                                c.max_voltage,
                                c.max_amperage,
                                c.max_electric_power_w,
                                c.max_power_kw,
                                c.tariff_ids,
                                c.terms_and_conditions,
                                c.last_updated,
                                c.content_hash,
                                c.raw.decode(),
                            )
                        )
    return evse_count


async def apply_locations(
    tx: Tx,
    locations: Sequence[LocationRecord],
    *,
    network_id: int,
    ocpi_version: str | None,
    received_at: datetime,
    observed_at: datetime | None = None,
    sync_run_id: int | None = None,
    force: bool = False,
    announce_new: bool = False,
) -> ApplyResult:
    """Create or replace whole locations (a PUT, a pulled page, a loaded dump).

    A location whose stored ``last_updated`` is newer is left as it is (counted as stale), and so
    is one whose content is unchanged (counted as unchanged; ``force`` re-applies it, e.g. after a
    fix of the normaliser). During a full sync every listed location is marked as seen, so it is
    not hidden as absent. Status changes are reported for locations we had before (and for new
    ones with ``announce_new``: a push of a new site shows up on live maps).
    """
    result = ApplyResult()
    if not locations:
        return result
    # The same location twice in one batch: the newer wins, as it would in two batches.
    newest: dict[str, LocationRecord] = {}
    for loc in locations:
        current = newest.get(loc.key)
        if current is None or current.last_updated <= loc.last_updated:
            newest[loc.key] = loc
    batch = list(newest.values())
    result.stale += len(locations) - len(batch)

    await locks.lock_objects(
        tx, (locks.object_key("location", r.country_code, r.party_id, r.ocpi_id) for r in batch)
    )
    await _ensure_stage_tables(tx)
    staged_evses = await _stage_locations(tx, batch)
    async with tx.conn.cursor() as cur:
        if sync_run_id is not None:
            await cur.execute(
                """
                UPDATE locations l SET seen_sync_id = %(run)s
                FROM stage_locations s
                WHERE (l.country_code, l.party_id, l.ocpi_id)
                      = (s.country_code, s.party_id, s.ocpi_id)
                """,
                {"run": sync_run_id},
            )
        await cur.execute(
            sql("upsert_locations"),
            {
                "network_id": network_id,
                "ocpi_version": ocpi_version,
                "received_at": received_at,
                "sync_run_id": sync_run_id,
                "force": force,
            },
        )
        await cur.execute(sql("stale_fields"))
        await cur.execute(
            "SELECT location_pk, inserted, fields_stale FROM stage_locations"
            " WHERE location_pk IS NOT NULL"
        )
        touched = await cur.fetchall()
        replaced = any(not inserted for _, inserted, _ in touched)
        fields_applied = sum(1 for *_, stale in touched if not stale)
        result.applied += fields_applied
        stale_fields = len(touched) - fields_applied
        if len(touched) < len(batch):
            await cur.execute(
                """
                SELECT count(*) FILTER (WHERE l.own_updated_at > s.own_updated_at)
                FROM stage_locations s
                JOIN locations l ON (l.country_code, l.party_id, l.ocpi_id)
                                    = (s.country_code, s.party_id, s.ocpi_id)
                WHERE s.location_pk IS NULL
                """
            )
            row = await cur.fetchone()
            stale_fields += int(row[0]) if row else 0
        result.stale += stale_fields
        result.unchanged += len(batch) - fields_applied - stale_fields
        if not touched:
            return result
        result.evses += staged_evses
        if replaced or announce_new:
            await cur.execute(sql("status_changes"), {"announce_new": announce_new})
            result.status_changes = [
                StatusChange(pk, uid, old, new) for pk, uid, old, new in await cur.fetchall()
            ]
        await cur.execute(sql("upsert_evses"), {"observed_at": observed_at or received_at})
        if replaced:
            await cur.execute(sql("hide_absent_evses"))
        await cur.execute(sql("upsert_connectors"))
        if replaced:
            await cur.execute(sql("hide_absent_connectors"))
            await cur.execute(sql("mixed_locations"))
            mixed = await cur.fetchall()
            if mixed:
                # Written in part: counted again from the EVSEs as they now are.
                await refresh_projection(tx, [m[0] for m in mixed], [m[1] for m in mixed])
            if stale_fields:
                await cur.execute(
                    "SELECT count(*) FROM stage_locations s WHERE s.fields_stale AND EXISTS"
                    " (SELECT 1 FROM stage_evses se WHERE se.loc_idx = s.idx AND se.applied)"
                )
                row = await cur.fetchone()
                result.partial += int(row[0]) if row else 0
        await cur.execute(
            """
            SELECT l.id, l.public_id, l.lat, l.lon, l.h3_r5, l.h3_r7, l.visible, l.evse_count,
                   l.available_count, l.occupied_count, l.out_of_service_count, l.unknown_count,
                   l.planned_count, false AS status_only
            FROM stage_locations s JOIN locations l ON l.id = s.location_pk
            """
        )
        result.states = [LocationState.from_row(row) for row in await cur.fetchall()]
    record_states(tx, result.states, "location")
    return result


def record_states(tx: Tx, states: Sequence[LocationState], kind: str) -> None:
    """Note the written locations for the change feed: ``kind`` for the visible ones,
    ``removed`` for the others."""
    tx.record(kind, (s.location_pk for s in states if s.visible))
    tx.record("removed", (s.location_pk for s in states if not s.visible))


async def refresh_projection(
    tx: Tx,
    location_ids: Sequence[int],
    bumps: Sequence[datetime | None] | None = None,
) -> list[LocationState]:
    """Recompute the search projection of these locations; bump ``last_updated`` where given."""
    if not location_ids:
        return []
    async with tx.conn.cursor() as cur:
        await cur.execute(
            sql("refresh_projection"),
            {
                "location_ids": list(location_ids),
                "bumps": list(bumps) if bumps is not None else [None] * len(location_ids),
            },
        )
        states = [LocationState.from_row(row) for row in await cur.fetchall()]
    record_states(tx, states, "location")
    return states


@dataclass(frozen=True, slots=True)
class BucketMove:
    """An EVSE that was visible and stays visible moved from one availability bucket to another
    (or stayed in it, with a newer status time)."""

    location_pk: int
    evse_pk: int
    old_bucket: str
    new_bucket: str
    moment: datetime


async def shift_buckets(tx: Tx, moves: Sequence[BucketMove]) -> list[LocationState]:
    """The projection after ``moves``, updated in place (``shift_buckets.sql``): the same result
    as ``refresh_projection`` for these locations at a fraction of its cost."""
    if not moves:
        return []
    async with tx.conn.cursor() as cur:
        await cur.execute(
            sql("shift_buckets"),
            {
                "location_ids": [m.location_pk for m in moves],
                "evse_ids": [m.evse_pk for m in moves],
                "old_buckets": [m.old_bucket for m in moves],
                "new_buckets": [m.new_bucket for m in moves],
                "moments": [m.moment for m in moves],
            },
        )
        states = [LocationState.from_row(row) for row in await cur.fetchall()]
    record_states(tx, states, "availability")
    return states


async def hide_absent_after_full_sync(tx: Tx, *, network_id: int, sync_run_id: int) -> list[int]:
    """After a *complete* full pull, hide the network's locations it did not list (ocpi.md P11)."""
    async with tx.conn.cursor() as cur:
        await cur.execute(
            """
            UPDATE locations l
            SET absent_since = now()
            -- Only what this network wrote: a hub knows parties whose locations others write.
            WHERE l.network_id = %(network)s
              AND l.seen_sync_id IS DISTINCT FROM %(run)s
              AND l.absent_since IS NULL
            RETURNING l.id
            """,
            {"network": network_id, "run": sync_run_id},
        )
        hidden = [row[0] for row in await cur.fetchall()]
    await refresh_projection(tx, hidden)
    return hidden


# ---- EVSE status patches of a batch of pushes --------------------------------------------------
class StatusRow(NamedTuple):
    """One EVSE status change to apply (already normalised by the receiver)."""

    country_code: str
    party_id: str
    location_id: str
    uid: str
    status: str
    status_raw: str | None
    bucket: str
    last_updated: datetime
    patch_json: str  # the PATCH body, merged into the EVSE's raw object


class StatusAnswer(NamedTuple):
    """What ``patch_statuses`` did to one row (in the order given)."""

    location_pk: int | None  # None: unknown location
    evse_pk: int | None  # None: unknown EVSE
    old_status: str | None
    applied: bool  # False: the stored status is newer
    old_bucket: str | None
    old_visible: bool | None
    visible: bool | None


async def patch_statuses(
    tx: Tx, rows: Sequence[StatusRow], *, received_at: datetime
) -> list[StatusAnswer]:
    """Apply EVSE status changes set-based (``status_patch.sql``), the newer ``last_updated``
    winning. The addressed locations are locked first, in id order: a concurrent writer of the
    same location waits for this transaction, and the update reads its EVSEs as they are now.
    Both statements go in one round trip (a pipeline); arrays travel in binary (the ``%(x)b``
    placeholders), so a thousand strings are not quoted one by one."""
    if not rows:
        return []
    params = {
        "idx": list(range(len(rows))),
        "cc": [r.country_code for r in rows],
        "pid": [r.party_id for r in rows],
        "loc": [r.location_id for r in rows],
        "uid": [r.uid for r in rows],
        "status": [r.status for r in rows],
        "status_raw": [r.status_raw for r in rows],
        "bucket": [r.bucket for r in rows],
        "last_updated": [r.last_updated for r in rows],
        "patch": [r.patch_json for r in rows],
        "received_at": received_at,
    }
    async with tx.conn.pipeline():
        await tx.conn.execute(sql("lock_locations"), params)
        cur = await tx.conn.execute(sql("status_patch"), params)
    return [StatusAnswer(*row[1:]) for row in await cur.fetchall()]


# ---- the stored tree, in OCPI form -------------------------------------------------------------
ABSENT_FROM_PUT = "absent from the last PUT of its location"


@dataclass
class StoredLocation:
    """A location as we store it: the OCPI Location object with its EVSEs and connectors,
    assembled from the raw object kept at each level (for the receiver's GET, and to merge a
    PATCH)."""

    location_pk: int
    network_id: int
    last_updated: datetime
    tree: dict[str, Any]
    own_updated_at: datetime | None = None  # the version of the location's own fields

    def evse(self, uid: str) -> dict[str, Any] | None:
        for evse in self.tree.get("evses", []):
            if str(evse.get("uid", "")).upper() == uid.upper():
                return evse  # type: ignore[no-any-return]
        return None

    @staticmethod
    def connector(evse: dict[str, Any], connector_id: str) -> dict[str, Any] | None:
        for connector in evse.get("connectors", []):
            if str(connector.get("id", "")).upper() == connector_id.upper():
                return connector  # type: ignore[no-any-return]
        return None


# A location's EVSEs as OCPI objects, each with its visible connectors: the EVSEs as stored,
# REMOVED ones included, without those its last PUT left out (``%(absent)s``, ABSENT_FROM_PUT).
EVSE_TREE = """
coalesce((
    SELECT jsonb_agg(
               e.raw || jsonb_build_object('connectors', coalesce((
                   SELECT jsonb_agg(c.raw ORDER BY c.id)
                   FROM connectors c WHERE c.evse_pk = e.id AND c.visible), '[]'::jsonb))
               ORDER BY e.id)
    FROM evses e
    WHERE e.location_id = l.id AND e.hidden_reason IS DISTINCT FROM %(absent)s
), '[]'::jsonb)
"""
_TREE_SQL = f"""
SELECT l.id, l.network_id, l.last_updated, l.own_updated_at, l.raw, {EVSE_TREE} AS evses
FROM locations l
WHERE (l.country_code, l.party_id, l.ocpi_id) = (%(cc)s, %(pid)s, %(id)s)
"""


async def fetch_location(
    db: Db, country_code: str, party_id: str, location_id: str, *, lock: bool = False
) -> StoredLocation | None:
    """The stored location (upper-cased identity), or None. ``lock`` (in a ``Tx``) holds its
    row until commit, so that concurrent merges of the same location cannot lose each other's
    changes."""
    params = {
        "cc": country_code.upper(),
        "pid": party_id.upper(),
        "id": location_id.upper(),
        "absent": ABSENT_FROM_PUT,
    }
    async with using(db) as conn, conn.cursor() as cur:
        if lock:
            await cur.execute(
                "SELECT id FROM locations WHERE (country_code, party_id, ocpi_id) = "
                "(%(cc)s, %(pid)s, %(id)s) FOR UPDATE",
                params,
            )
        await cur.execute(_TREE_SQL, params)
        row = await cur.fetchone()
    if row is None:
        return None
    pk, network_id, last_updated, own_updated_at, raw, evses = row
    tree = dict(raw)
    tree["evses"] = evses
    return StoredLocation(pk, network_id, last_updated, tree, own_updated_at)
