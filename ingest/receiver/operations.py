"""What an OCPI push does to our store (ocpi.md §3.3, §4.2), one function per kind of push.

Every write is expressed as: read the stored location tree, change the addressed object the way
OCPI says (PUT replaces it, PATCH merges into it shallowly, a child change bumps its parents'
``last_updated``), then normalise and apply the whole location through the same path as a pull.
The exception is the most common message, an EVSE status PATCH, which is applied set-based for a
whole batch of pushes (``status_patches``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from app.domain.status import normalise_status, status_bucket
from app.domain.timestamps import parse_timestamp
from app.store import Tx
from app.store.locations import (
    ApplyResult,
    BucketMove,
    StatusChange,
    StatusRow,
    StoredLocation,
    apply_locations,
    fetch_location,
    patch_statuses,
    refresh_projection,
    shift_buckets,
)
from app.store.quarantine import record_problems
from app.store.records import Problem, location_key
from ingest.ocpi import transport
from ingest.ocpi.normalise import IngestContext, Normaliser
from ingest.ocpi.wire import encoder

STATUS_ONLY_KEYS = frozenset({"status", "last_updated"})


@dataclass(frozen=True)
class Pusher:
    """Who pushes, in which OCPI version, and when we received it."""

    network_id: int
    version: str
    received_at: datetime
    token_sha256: bytes = b""  # checked again in the write's transaction (app.store.networks)


@dataclass
class Outcome:
    """The OCPI answer to one push, and what it changed (for the live stream)."""

    status_code: int = transport.SUCCESS
    message: str = "Success"
    http_status: int = 200
    result: ApplyResult | None = None
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code == transport.SUCCESS


def invalid(message: str, version: str) -> Outcome:
    # 2.2+: once a request reached the OCPI layer it is answered with HTTP 200 (ocpi.md §1.5);
    # 2.1.1 expects an HTTP error code with the OCPI body.
    http = 200 if transport.is_22_or_later(version) else 400
    return Outcome(transport.INVALID_PARAMETERS, message, http)


def unknown_location(message: str) -> Outcome:
    # The addressed resource does not exist: HTTP 404 so the CPO falls back to a full PUT.
    return Outcome(transport.UNKNOWN_LOCATION, message, 404)


def ignored(what: str) -> Outcome:
    return Outcome(message=f"{what} is older than the stored version; ignored")


# ---- helpers -----------------------------------------------------------------------------------
def _context(pusher: Pusher, cc: str, pid: str) -> IngestContext:
    return IngestContext(
        network_id=pusher.network_id,
        source="push",
        ocpi_version=pusher.version,
        country_code=cc,
        party_id=pid,
        received_at=pusher.received_at,
    )


def _patch_time(patch: dict[str, Any], pusher: Pusher) -> tuple[datetime | None, str | None]:
    """``last_updated`` of a PATCH: required in 2.2+ (else 2001), reception time in 2.1.1."""
    value = patch.get("last_updated")
    if value is None:
        if transport.is_22_or_later(pusher.version):
            return None, f"PATCH without last_updated (required in OCPI {pusher.version})"
        return pusher.received_at, None
    parsed = parse_timestamp(value)
    if parsed is None:
        return None, f"last_updated {value!r} is not an OCPI DateTime"
    return min(parsed, pusher.received_at), None


def later(a: datetime, b: datetime | None) -> datetime:
    return b if b is not None and b > a else a


def _same_id(body: dict[str, Any], key: str, url_value: str) -> bool:
    value = body.get(key)
    return value is None or str(value).strip().upper() == url_value.upper()


async def _apply_tree(
    tx: Tx,
    pusher: Pusher,
    cc: str,
    pid: str,
    tree: dict[str, Any],
    *,
    created: bool,
    force: bool = False,
    fields_at: datetime | None = None,
) -> Outcome:
    """Normalise a whole location and apply it; reject it (2001, quarantined) when unusable.
    ``fields_at``: the version of the location's own fields when this write changes only an
    EVSE or connector (they stay as stored; default: the tree's last_updated)."""
    problems: list[Problem] = []
    normaliser = Normaliser(_context(pusher, cc, pid))
    accepted, problems = normaliser.locations([encoder.encode(tree)])
    await record_problems(tx, problems, network_id=pusher.network_id, source="push")
    if not accepted:
        reasons = "; ".join(p.reason for p in problems if p.severity == "rejected")
        return invalid(f"location rejected: {reasons}", pusher.version)
    if fields_at is not None:
        accepted = [msgspec.structs.replace(accepted[0], own_updated_at=fields_at)]
    result = await apply_locations(
        tx,
        accepted,
        network_id=pusher.network_id,
        ocpi_version=pusher.version,
        received_at=pusher.received_at,
        force=force,
        announce_new=True,
    )
    if result.partial:
        return Outcome(
            message="the location's fields are older than the stored version and were kept;"
            " its newer EVSEs were applied",
            result=result,
        )
    if result.stale:
        return Outcome(message="location is older than the stored version; ignored", result=result)
    return Outcome(http_status=201 if created else 200, result=result)


# ---- Locations: PUT ----------------------------------------------------------------------------
async def put_location(
    tx: Tx, pusher: Pusher, cc: str, pid: str, location_id: str, body: dict[str, Any]
) -> Outcome:
    for key, url_value in (("country_code", cc), ("party_id", pid), ("id", location_id)):
        if not _same_id(body, key, url_value):
            return invalid(
                f"{key} {body.get(key)!r} in the body differs from {url_value!r} in the URL",
                pusher.version,
            )
    tree = {
        **body,
        "country_code": body.get("country_code", cc),
        "party_id": body.get("party_id", pid),
        "id": body.get("id", location_id),
    }
    stored = await fetch_location(tx, cc, pid, location_id, lock=True)
    return await _apply_tree(tx, pusher, cc, pid, tree, created=stored is None)


async def put_evse(
    tx: Tx,
    pusher: Pusher,
    cc: str,
    pid: str,
    location_id: str,
    uid: str,
    body: dict[str, Any],
) -> Outcome:
    if not _same_id(body, "uid", uid):
        return invalid(
            f"uid {body.get('uid')!r} in the body differs from {uid!r} in the URL", pusher.version
        )
    stored = await fetch_location(tx, cc, pid, location_id, lock=True)
    if stored is None:
        return unknown_location(f"unknown location {cc}*{pid}*{location_id}: PUT it first")
    evse = {**body, "uid": body.get("uid", uid)}
    new_time = parse_timestamp(evse.get("last_updated")) or pusher.received_at
    current = stored.evse(uid)
    if current is not None:
        current_time = parse_timestamp(current.get("last_updated"))
        if current_time is not None and new_time < current_time:
            return ignored("EVSE")
    evses = [e for e in stored.tree["evses"] if str(e.get("uid", "")).upper() != uid.upper()]
    stored.tree["evses"] = [*evses, evse]
    stored.tree["last_updated"] = transport.format_timestamp(later(stored.last_updated, new_time))
    return await _apply_tree(
        tx, pusher, cc, pid, stored.tree, created=current is None, fields_at=stored.own_updated_at
    )


async def put_connector(
    tx: Tx,
    pusher: Pusher,
    cc: str,
    pid: str,
    location_id: str,
    uid: str,
    connector_id: str,
    body: dict[str, Any],
) -> Outcome:
    if not _same_id(body, "id", connector_id):
        return invalid(
            f"id {body.get('id')!r} in the body differs from {connector_id!r} in the URL",
            pusher.version,
        )
    stored = await fetch_location(tx, cc, pid, location_id, lock=True)
    if stored is None:
        return unknown_location(f"unknown location {cc}*{pid}*{location_id}: PUT it first")
    evse = stored.evse(uid)
    if evse is None:
        return unknown_location(f"unknown EVSE {uid} of location {cc}*{pid}*{location_id}")
    connector = {**body, "id": body.get("id", connector_id)}
    new_time = parse_timestamp(connector.get("last_updated")) or pusher.received_at
    current = StoredLocation.connector(evse, connector_id)
    if current is not None:
        current_time = parse_timestamp(current.get("last_updated"))
        if current_time is not None and new_time < current_time:
            return ignored("connector")
    others = [
        c
        for c in evse.get("connectors", [])
        if str(c.get("id", "")).upper() != connector_id.upper()
    ]
    evse["connectors"] = [*others, connector]
    _bump(evse, new_time)
    stored.tree["last_updated"] = transport.format_timestamp(later(stored.last_updated, new_time))
    return await _apply_tree(
        tx, pusher, cc, pid, stored.tree, created=current is None, fields_at=stored.own_updated_at
    )


def _bump(obj: dict[str, Any], moment: datetime) -> None:
    """A change to a child sets the parent's last_updated too (OCPI 2.2.1 §3.3)."""
    current = parse_timestamp(obj.get("last_updated"))
    if current is None or current < moment:
        obj["last_updated"] = transport.format_timestamp(moment)


# ---- Locations: PATCH --------------------------------------------------------------------------
async def patch_location(
    tx: Tx,
    pusher: Pusher,
    cc: str,
    pid: str,
    location_id: str,
    patch: dict[str, Any],
) -> Outcome:
    moment, error = _patch_time(patch, pusher)
    if error is not None or moment is None:
        return invalid(error or "bad last_updated", pusher.version)
    for key, url_value in (("country_code", cc), ("party_id", pid), ("id", location_id)):
        if not _same_id(patch, key, url_value):
            return invalid(f"{key} in the PATCH differs from the URL", pusher.version)
    stored = await fetch_location(tx, cc, pid, location_id, lock=True)
    if stored is None:
        return unknown_location(f"unknown location {cc}*{pid}*{location_id}: PUT it first")
    if moment < (stored.own_updated_at or stored.last_updated):
        return ignored("PATCH of location")
    tree = stored.tree
    for key, value in patch.items():
        if key == "evses" and isinstance(value, list):
            # Arrays in a PATCH are unspecified (ocpi.md P25): merge EVSEs element-wise by uid,
            # never drop one (deletion is not allowed).
            for evse_patch in value:
                if not isinstance(evse_patch, dict) or evse_patch.get("uid") is None:
                    continue
                current = stored.evse(str(evse_patch["uid"]))
                if current is None:
                    tree["evses"].append(evse_patch)
                else:
                    current.update(evse_patch)
        elif key not in ("country_code", "party_id", "id"):
            tree[key] = value
    tree["last_updated"] = transport.format_timestamp(moment)
    return await _apply_tree(tx, pusher, cc, pid, tree, created=False)


async def patch_evse(
    tx: Tx,
    pusher: Pusher,
    cc: str,
    pid: str,
    location_id: str,
    uid: str,
    patch: dict[str, Any],
) -> Outcome:
    """A general EVSE PATCH (status-only ones go through ``status_patches``)."""
    moment, error = _patch_time(patch, pusher)
    if error is not None or moment is None:
        return invalid(error or "bad last_updated", pusher.version)
    if not _same_id(patch, "uid", uid):
        return invalid("uid in the PATCH differs from the URL", pusher.version)
    stored = await fetch_location(tx, cc, pid, location_id, lock=True)
    if stored is None:
        return unknown_location(f"unknown location {cc}*{pid}*{location_id}: PUT it first")
    evse = stored.evse(uid)
    if evse is None:
        return unknown_location(f"unknown EVSE {uid} of location {cc}*{pid}*{location_id}")
    current_time = parse_timestamp(evse.get("last_updated"))
    if current_time is not None and moment < current_time:
        return ignored("PATCH of EVSE")
    # Shallow merge; a `connectors` array replaces the list (ocpi.md §3.3 recommendation).
    evse.update({k: v for k, v in patch.items() if k != "uid"})
    evse["last_updated"] = transport.format_timestamp(moment)
    stored.tree["last_updated"] = transport.format_timestamp(later(stored.last_updated, moment))
    return await _apply_tree(
        tx, pusher, cc, pid, stored.tree, created=False, fields_at=stored.own_updated_at
    )


async def patch_connector(
    tx: Tx,
    pusher: Pusher,
    cc: str,
    pid: str,
    location_id: str,
    uid: str,
    connector_id: str,
    patch: dict[str, Any],
) -> Outcome:
    moment, error = _patch_time(patch, pusher)
    if error is not None or moment is None:
        return invalid(error or "bad last_updated", pusher.version)
    if not _same_id(patch, "id", connector_id):
        return invalid("id in the PATCH differs from the URL", pusher.version)
    stored = await fetch_location(tx, cc, pid, location_id, lock=True)
    if stored is None:
        return unknown_location(f"unknown location {cc}*{pid}*{location_id}: PUT it first")
    evse = stored.evse(uid)
    if evse is None:
        return unknown_location(f"unknown EVSE {uid} of location {cc}*{pid}*{location_id}")
    connector = StoredLocation.connector(evse, connector_id)
    if connector is None:
        return unknown_location(f"unknown connector {connector_id} of EVSE {uid}")
    current_time = parse_timestamp(connector.get("last_updated"))
    if current_time is not None and moment < current_time:
        return ignored("PATCH of connector")
    connector.update({k: v for k, v in patch.items() if k != "id"})
    connector["last_updated"] = transport.format_timestamp(moment)
    _bump(evse, moment)
    stored.tree["last_updated"] = transport.format_timestamp(later(stored.last_updated, moment))
    return await _apply_tree(
        tx, pusher, cc, pid, stored.tree, created=False, fields_at=stored.own_updated_at
    )


# ---- the fast path: EVSE status PATCHes of a batch ---------------------------------------------
@dataclass
class StatusPatch:
    cc: str
    pid: str
    location_id: str
    uid: str
    patch: dict[str, Any]
    pusher: Pusher
    outcome: Outcome | None = None


def _json_text(value: dict[str, Any]) -> str:
    return msgspec.json.encode(value).decode()


def is_status_patch(patch: dict[str, Any]) -> bool:
    return "status" in patch and set(patch) <= STATUS_ONLY_KEYS


@dataclass
class _Row:
    item: StatusPatch
    status: str
    status_raw: str | None
    bucket: str
    moment: datetime
    notes: list[Problem] = field(default_factory=list)


async def status_patches(tx: Tx, items: Sequence[StatusPatch]) -> ApplyResult:
    """Apply a batch of status PATCHes in three statements; sets each item's outcome."""
    rows: list[_Row] = []
    for item in items:
        moment, error = _patch_time(item.patch, item.pusher)
        if error is not None or moment is None:
            item.outcome = invalid(error or "bad last_updated", item.pusher.version)
            continue
        raw_status = item.patch.get("status")
        status, note = normalise_status(raw_status if isinstance(raw_status, str) else None)
        row = _Row(
            item,
            status,
            raw_status if isinstance(raw_status, str) else None,
            status_bucket(status),
            moment,
        )
        if note:
            evse_key = (
                f"{location_key(item.cc, item.pid, item.location_id.upper())}/{item.uid.upper()}"
            )
            row.notes.append(Problem("evse", evse_key, note, "note"))
        rows.append(row)
    result = ApplyResult()
    if not rows:
        return result
    # Of several updates of one EVSE in a batch, the newest wins, as it would one by one.
    newest: dict[tuple[str, str, str, str], _Row] = {}
    for row in rows:
        key = (
            row.item.cc.upper(),
            row.item.pid.upper(),
            row.item.location_id.upper(),
            row.item.uid.upper(),
        )
        if key not in newest or newest[key].moment <= row.moment:
            if key in newest:
                newest[key].item.outcome = ignored("status PATCH (superseded in the same batch)")
            newest[key] = row
        else:
            row.item.outcome = ignored("status PATCH (superseded in the same batch)")
    batch = sorted(newest.values(), key=lambda r: (r.item.cc, r.item.pid, r.item.location_id))
    answers = await patch_statuses(
        tx,
        [
            StatusRow(
                r.item.cc.upper(),
                r.item.pid.upper(),
                r.item.location_id.upper(),
                r.item.uid.upper(),
                r.status,
                r.status_raw,
                r.bucket,
                r.moment,
                _json_text(r.item.patch),
            )
            for r in batch
        ],
        received_at=max(r.item.pusher.received_at for r in batch),
    )
    moves: list[BucketMove] = []
    refresh: dict[int, datetime] = {}
    for row, answer in zip(batch, answers, strict=True):
        item = row.item
        if answer.location_pk is None:
            item.outcome = unknown_location(
                f"unknown location {item.cc}*{item.pid}*{item.location_id}: PUT it first"
            )
        elif answer.evse_pk is None:
            item.outcome = unknown_location(
                f"unknown EVSE {item.uid} of location {item.cc}*{item.pid}*{item.location_id}"
            )
        elif not answer.applied:
            item.outcome = ignored("status PATCH")
        else:
            item.outcome = Outcome()
            location_pk, evse_pk = answer.location_pk, answer.evse_pk
            if answer.old_visible and answer.visible:
                moves.append(
                    BucketMove(
                        location_pk, evse_pk, answer.old_bucket or "", row.bucket, row.moment
                    )
                )
            else:  # shown or hidden by this change: recount the location
                refresh[location_pk] = max(refresh.get(location_pk, row.moment), row.moment)
            if answer.old_status != row.status:
                result.status_changes.append(
                    StatusChange(location_pk, item.uid.upper(), answer.old_status, row.status)
                )
            result.applied += 1
    notes = [n for r in batch for n in r.notes]
    if notes:
        await record_problems(tx, notes, network_id=batch[0].item.pusher.network_id, source="push")
    # A location with an EVSE to recount is recounted whole; the others shift their counts.
    result.states = await shift_buckets(tx, [m for m in moves if m.location_pk not in refresh])
    for move in moves:
        if move.location_pk in refresh:
            refresh[move.location_pk] = max(refresh[move.location_pk], move.moment)
    ids = list(refresh)
    result.states += await refresh_projection(tx, ids, [refresh[i] for i in ids])
    return result


def decode_object(body: bytes) -> dict[str, Any] | None:
    """A JSON object, or None for anything else: not JSON, invalid UTF-8, or nested deeper than
    the decoder goes (which would otherwise be a RecursionError)."""
    try:
        value = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
