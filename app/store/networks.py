"""Networks we exchange OCPI with (or load dumps from): their parties, tokens, registration
and health; and the parties drivers can filter by."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import msgspec
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from app.domain.parties import Party
from app.domain.staleness import network_silent
from app.store.core import Db, Tx, using
from app.store.errors import Duplicate, NotFound, StoreError
from app.store.pieces import NETWORK_SILENT
from app.store.pull_status import ModuleStatus, module_status


@dataclass(frozen=True, slots=True)
class NetworkAuth:
    """Who a presented token belongs to, and which parties it may write."""

    network_id: int
    name: str
    status: str
    token_kind: str
    ocpi_version: str | None
    parties: frozenset[tuple[str, str]]
    token_sha256: bytes = b""  # the token that was presented (the writer checks it again)
    kind: str = "ocpi"  # subscriber: a downstream platform, whose tokens only read

    @property
    def subscriber(self) -> bool:
        return self.kind == "subscriber"

    def may_write(self, country_code: str, party_id: str) -> bool:
        return (country_code.upper(), party_id.upper()) in self.parties


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def generate_token() -> str:
    """A credentials token: printable non-whitespace ASCII, at most 64 characters (OCPI 2.2.1)."""
    return secrets.token_urlsafe(32)


class NetworkExists(ValueError):
    pass


class PartyOwned(StoreError, ValueError):
    """A claim on a party that another network owns (architecture.md: one owner per party)."""

    def __init__(self, party: Party, owner: str) -> None:
        super().__init__(
            f"party {party} belongs to another network ({owner}); an operator can move it with "
            f"`wattlas networks parties NAME add {party} --take-over`"
        )
        self.party = party
        self.owner = owner


class UnknownNetwork(NotFound):
    pass


async def create_network(
    tx: Tx,
    name: str,
    *,
    kind: str = "ocpi",
    status: str,
    ocpi_version: str | None = None,
    versions_url: str | None = None,
) -> int:
    async with tx.conn.cursor() as cur:
        await cur.execute(
            """
            INSERT INTO networks (name, kind, status, ocpi_version, versions_url)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (name) DO NOTHING
            RETURNING id
            """,
            (name, kind, status, ocpi_version, versions_url),
        )
        row = await cur.fetchone()
    if row is None:
        raise NetworkExists(f"a network named {name!r} exists already")
    return int(row[0])


async def ensure_file_network(db: Db, name: str) -> int:
    async with using(db) as conn, conn.cursor() as cur:
        await cur.execute(
            """
            INSERT INTO networks (name, kind, status) VALUES (%s, 'file', 'FILE')
            ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
            RETURNING id
            """,
            (name,),
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def network_id_by_name(db: Db, name: str) -> int:
    async with using(db) as conn, conn.cursor() as cur:
        await cur.execute("SELECT id FROM networks WHERE name = %s", (name,))
        row = await cur.fetchone()
    if row is None:
        raise UnknownNetwork(f"no network named {name!r}")
    return int(row[0])


async def get_network(db: Db, network_id: int) -> dict[str, Any]:
    async with using(db) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM networks WHERE id = %s", (network_id,))
        row = await cur.fetchone()
    if row is None:
        raise UnknownNetwork(f"no network with id {network_id}")
    return row


async def owned_elsewhere(db: Db, network_id: int | None, parties: list[Party]) -> None:
    """Raise ``PartyOwned`` for the first of these parties another network owns (a check before
    any work is done on a claim that cannot succeed; ``set_parties`` enforces it for sure)."""
    if not parties:
        return
    async with using(db) as conn:
        cur = await conn.execute(
            """
            SELECT p.country_code, p.party_id, n.name
            FROM network_parties p JOIN networks n ON n.id = p.network_id
            WHERE p.owner AND p.network_id IS DISTINCT FROM %s
              AND p.country_code || '*' || p.party_id = ANY(%s)
            ORDER BY 1, 2 LIMIT 1
            """,
            (network_id, [str(p) for p in parties]),
        )
        row = await cur.fetchone()
    if row is not None:
        raise PartyOwned(Party(row[0], row[1]), row[2])


async def set_parties(
    tx: Tx,
    network_id: int,
    parties: list[Party],
    *,
    replace: bool = True,
    owner: bool = True,
    source: str = "credentials",
) -> None:
    """The network's parties of one ``source`` (``replace``: only these of that source; parties
    it knows otherwise, from a hub's HubClientInfo or an operator, stay). An owned party that
    another network owns is refused with ``PartyOwned``, whoever wins a race (the unique index
    decides). A party the network owns is never made a non-owned one by a later source."""
    if owner:
        await owned_elsewhere(tx, network_id, parties)
    async with tx.conn.cursor() as cur:
        if replace:
            await cur.execute(
                "DELETE FROM network_parties WHERE network_id = %s AND source = %s",
                (network_id, source),
            )
        for party in parties:
            try:
                async with tx.savepoint():
                    await cur.execute(
                        """
                        INSERT INTO network_parties
                            (network_id, country_code, party_id, role, name, owner, source)
                        VALUES (%s, %s, %s, %s, %s, %s, %s)
                        ON CONFLICT (network_id, country_code, party_id)
                        DO UPDATE SET role = EXCLUDED.role,
                                      owner = network_parties.owner OR EXCLUDED.owner,
                                      source = CASE WHEN network_parties.owner
                                                     AND NOT EXCLUDED.owner
                                                    THEN network_parties.source
                                                    ELSE EXCLUDED.source END,
                                      name = coalesce(EXCLUDED.name, network_parties.name)
                        """,
                        (
                            network_id,
                            party.country_code,
                            party.party_id,
                            party.role,
                            party.name,
                            owner,
                            source,
                        ),
                    )
            except Duplicate:
                await owned_elsewhere(tx, network_id, [party])
                raise


async def take_over_party(tx: Tx, network_id: int, party: Party) -> str | None:
    """Make this network the party's owner (an operator's explicit move); returns the network
    that owned it before, if another did. Its row stays, without ownership."""
    cur = await tx.conn.execute(
        """
        UPDATE network_parties p SET owner = false
        FROM networks n
        WHERE n.id = p.network_id AND p.owner AND p.network_id <> %s
          AND (p.country_code, p.party_id) = (%s, %s)
        RETURNING n.name
        """,
        (network_id, party.country_code, party.party_id),
    )
    row = await cur.fetchone()
    await set_parties(tx, network_id, [party], replace=False, source="operator")
    return str(row[0]) if row else None


class KnownParty(msgspec.Struct, frozen=True):
    """A party a network knows: whether it owns it, how it became known, and (for a party a hub
    routes) its HubClientInfo status."""

    party: Party
    owner: bool
    source: str
    client_status: str | None = None


async def parties_of(db: Db, network_id: int) -> list[KnownParty]:
    async with using(db) as conn:
        cur = await conn.execute(
            "SELECT country_code, party_id, role, name, owner, source, client_status"
            " FROM network_parties WHERE network_id = %s ORDER BY 1, 2",
            (network_id,),
        )
        return [
            KnownParty(Party(r[0], r[1], r[2], r[3]), bool(r[4]), r[5], r[6])
            for r in await cur.fetchall()
        ]


async def is_hub(db: Db, network_id: int) -> bool:
    """A network whose credentials name a party with role HUB."""
    async with using(db) as conn:
        cur = await conn.execute(
            "SELECT EXISTS (SELECT 1 FROM network_parties WHERE network_id = %s AND role = 'HUB')",
            (network_id,),
        )
        row = await cur.fetchone()
    return bool(row and row[0])


async def remove_party(tx: Tx, network_id: int, party: Party) -> bool:
    cur = await tx.conn.execute(
        "DELETE FROM network_parties WHERE network_id = %s AND (country_code, party_id) = (%s, %s)",
        (network_id, party.country_code, party.party_id),
    )
    return cur.rowcount > 0


async def add_token(tx: Tx, network_id: int, token: str, kind: str) -> None:
    await tx.conn.execute(
        "INSERT INTO network_tokens (token_sha256, network_id, kind) VALUES (%s, %s, %s)",
        (hash_token(token), network_id, kind),
    )


async def revoke_tokens(tx: Tx, network_id: int, kind: str | None = None) -> None:
    await tx.conn.execute(
        """
        UPDATE network_tokens SET revoked_at = now()
        WHERE network_id = %s AND revoked_at IS NULL AND (%s::text IS NULL OR kind = %s)
        """,
        (network_id, kind, kind),
    )


async def authenticate(db: Db, candidates: list[str]) -> NetworkAuth | None:
    """The network one of the candidate tokens belongs to (not revoked), with its parties."""
    if not candidates:
        return None
    async with using(db) as conn, conn.cursor() as cur:
        await cur.execute(
            """
            SELECT n.id, n.name, n.status, t.kind, n.ocpi_version,
                   coalesce(array_agg(p.country_code || '*' || p.party_id)
                            FILTER (WHERE p.party_id IS NOT NULL), '{}'),
                   t.token_sha256, n.kind
            FROM network_tokens t
            JOIN networks n ON n.id = t.network_id
            -- What it may write: the parties it owns, and those it knows (a hub routes them,
            -- it serves them) that no network owns and its hub did not suspend.
            LEFT JOIN network_parties p ON p.network_id = n.id AND (
                p.owner OR p.client_status IS DISTINCT FROM 'SUSPENDED' AND NOT EXISTS (
                    SELECT 1 FROM network_parties o
                    WHERE o.owner AND (o.country_code, o.party_id) = (p.country_code, p.party_id)))
            WHERE t.token_sha256 = ANY(%s) AND t.revoked_at IS NULL AND n.status <> 'REVOKED'
            GROUP BY n.id, t.kind, t.token_sha256
            LIMIT 1
            """,
            ([hash_token(c) for c in candidates],),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    parties = frozenset(tuple(p.split("*", 1)) for p in row[5])
    return NetworkAuth(row[0], row[1], row[2], row[3], row[4], parties, bytes(row[6]), row[7])


class Grant(NamedTuple):
    """A write a token is about to make: the token (its hash) and the party written."""

    token_sha256: bytes
    country_code: str
    party_id: str


_LOCK_GRANTS = """
SELECT 1 FROM network_tokens t
WHERE t.token_sha256 = ANY(%(tokens)s)
FOR SHARE
"""
_LOCK_PARTIES = """
SELECT 1 FROM network_parties p
WHERE p.country_code || '*' || p.party_id = ANY(%(parties)s)
FOR SHARE
"""
_GRANTS_HOLD = """
SELECT g.idx
FROM unnest(%(idx)s::int[], %(token)s::bytea[], %(cc)s::text[], %(pid)s::text[])
         AS g(idx, token, cc, pid)
JOIN network_tokens t ON t.token_sha256 = g.token AND t.revoked_at IS NULL
JOIN networks n ON n.id = t.network_id AND n.status <> 'REVOKED'
JOIN network_parties p ON p.network_id = n.id AND (p.country_code, p.party_id) = (g.cc, g.pid)
WHERE p.owner OR p.client_status IS DISTINCT FROM 'SUSPENDED' AND NOT EXISTS (
    SELECT 1 FROM network_parties o
    WHERE o.owner AND (o.country_code, o.party_id) = (p.country_code, p.party_id))
"""


async def grants_hold(tx: Tx, grants: Sequence[Grant]) -> list[bool]:
    """Whether each token is still valid and still may write its party, checked again inside the
    write's own transaction (a token cache may be seconds behind). The token and party rows are
    locked until the transaction ends: a revocation or a move of the party waits for this write,
    and every write after it sees it (issue 9, finding 7)."""
    if not grants:
        return []
    unique = sorted(set(grants))
    params = {
        "tokens": sorted({g.token_sha256 for g in unique}),
        "parties": sorted({f"{g.country_code}*{g.party_id}" for g in unique}),
        "idx": list(range(len(unique))),
        "token": [g.token_sha256 for g in unique],
        "cc": [g.country_code for g in unique],
        "pid": [g.party_id for g in unique],
    }
    async with tx.conn.pipeline():
        await tx.conn.execute(_LOCK_GRANTS, params)
        await tx.conn.execute(_LOCK_PARTIES, params)
        cur = await tx.conn.execute(_GRANTS_HOLD, params)
    held = {unique[row[0]] for row in await cur.fetchall()}
    return [g in held for g in grants]


_LEARN_SERVED = """
INSERT INTO network_parties (network_id, country_code, party_id, role, owner, source)
SELECT %(network)s, g.cc, g.pid, 'CPO', false, %(source)s
FROM unnest(%(cc)s::text[], %(pid)s::text[]) AS g(cc, pid)
WHERE NOT EXISTS (SELECT 1 FROM network_parties o
                  WHERE o.owner AND (o.country_code, o.party_id) = (g.cc, g.pid))
ON CONFLICT (network_id, country_code, party_id) DO NOTHING
"""
_REFUSED = """
SELECT g.cc, g.pid, n.name, p.client_status
FROM unnest(%(cc)s::text[], %(pid)s::text[]) AS g(cc, pid)
LEFT JOIN network_parties o
    ON o.owner AND (o.country_code, o.party_id) = (g.cc, g.pid) AND o.network_id <> %(network)s
LEFT JOIN networks n ON n.id = o.network_id
LEFT JOIN network_parties p
    ON p.network_id = %(network)s AND (p.country_code, p.party_id) = (g.cc, g.pid)
WHERE o.network_id IS NOT NULL OR (NOT coalesce(p.owner, false) AND p.client_status = 'SUSPENDED')
ORDER BY 1, 2
"""


async def writable_parties(
    tx: Tx, network_id: int, parties: Sequence[tuple[str, str]], *, source: str = "served"
) -> dict[tuple[str, str], str]:
    """Before a pull or a load writes objects of these parties: the ones this network may not
    write, each with why (another network owns it; its hub suspended it). A party nobody owns
    that the network did not know becomes one it knows without owning it (``source``): what a
    hub serves, it may also push (issue 10). The party rows are locked until the transaction
    ends, so an ownership move waits for the write (as ``grants_hold`` does for pushes)."""
    unique = sorted({(cc.upper(), pid.upper()) for cc, pid in parties})
    if not unique:
        return {}
    params = {
        "network": network_id,
        "source": source,
        "cc": [cc for cc, _ in unique],
        "pid": [pid for _, pid in unique],
        "parties": [f"{cc}*{pid}" for cc, pid in unique],
    }
    async with tx.conn.pipeline():
        await tx.conn.execute(_LOCK_PARTIES, params)
        await tx.conn.execute(_LEARN_SERVED, params)
        cur = await tx.conn.execute(_REFUSED, params)
    refused = {}
    for cc, pid, owner, _client_status in await cur.fetchall():
        refused[(cc, pid)] = (
            f"party {cc}*{pid} belongs to another network ({owner})"
            if owner
            else f"party {cc}*{pid} is SUSPENDED by its hub (HubClientInfo)"
        )
    return refused


class ClientInfoRow(NamedTuple):
    """A hub's ClientInfo as the store keeps it (``ingest.ocpi.hubclientinfo`` reads them)."""

    country_code: str
    party_id: str
    role: str
    status: str
    last_updated: datetime


_CLIENT_INFO = """
INSERT INTO network_parties AS p
    (network_id, country_code, party_id, role, owner, source, client_status, client_status_at)
SELECT %(network)s, g.cc, g.pid, g.role, false, 'hubclientinfo', g.status, g.at
FROM unnest(%(cc)s::text[], %(pid)s::text[], %(role)s::text[], %(status)s::text[],
            %(at)s::timestamptz[]) AS g(cc, pid, role, status, at)
ON CONFLICT (network_id, country_code, party_id) DO UPDATE SET
    client_status = EXCLUDED.client_status, client_status_at = EXCLUDED.client_status_at,
    role = CASE WHEN p.owner THEN p.role ELSE EXCLUDED.role END
WHERE p.client_status_at IS NULL OR p.client_status_at < EXCLUDED.client_status_at
   OR (p.client_status_at = EXCLUDED.client_status_at
       AND p.client_status IS DISTINCT FROM EXCLUDED.client_status)
RETURNING p.country_code, p.party_id
"""


class ClientInfoCounts(NamedTuple):
    written: int
    unchanged: int
    older: int  # than stored: changed nothing


async def apply_client_info(
    tx: Tx, network_id: int, infos: Sequence[ClientInfoRow]
) -> ClientInfoCounts:
    """A hub's ClientInfo objects: each party becomes one the hub routes (never owns), with its
    ConnectionStatus; an older ClientInfo than stored changes nothing. A SUSPENDED party is no
    longer writable through the hub."""
    newest: dict[tuple[str, str], ClientInfoRow] = {}
    for info in infos:
        current = newest.get((info.country_code, info.party_id))
        if current is None or current.last_updated <= info.last_updated:
            newest[(info.country_code, info.party_id)] = info
    rows = [newest[key] for key in sorted(newest)]
    if not rows:
        return ClientInfoCounts(0, 0, 0)
    cur = await tx.conn.execute(
        "SELECT country_code, party_id, client_status_at FROM network_parties"
        " WHERE network_id = %s AND country_code || '*' || party_id = ANY(%s)",
        (network_id, [f"{r.country_code}*{r.party_id}" for r in rows]),
    )
    stored = {(r[0], r[1]): r[2] for r in await cur.fetchall()}
    older = sum(
        1
        for r in rows
        if stored.get((r.country_code, r.party_id)) is not None
        and stored[(r.country_code, r.party_id)] > r.last_updated
    ) + (len(infos) - len(rows))
    cur = await tx.conn.execute(
        _CLIENT_INFO,
        {
            "network": network_id,
            "cc": [r.country_code for r in rows],
            "pid": [r.party_id for r in rows],
            "role": [r.role for r in rows],
            "status": [r.status for r in rows],
            "at": [r.last_updated for r in rows],
        },
    )
    written = len(await cur.fetchall())
    return ClientInfoCounts(written, len(infos) - written - older, older)


async def client_info(db: Db, network_id: int, cc: str, pid: str) -> ClientInfoRow | None:
    """What a hub told us about one of its parties (the receiver's GET)."""
    async with using(db) as conn:
        cur = await conn.execute(
            "SELECT country_code, party_id, role, client_status, client_status_at"
            " FROM network_parties WHERE network_id = %s AND (country_code, party_id) = (%s, %s)"
            " AND client_status IS NOT NULL",
            (network_id, cc.upper(), pid.upper()),
        )
        row = await cur.fetchone()
    return ClientInfoRow(*row) if row else None


async def touch(tx: Tx, network_id: int, *, push: bool = False, at: datetime | None = None) -> None:
    """Record contact with a network (staleness of its statuses is measured from this)."""
    await tx.conn.execute(
        """
        UPDATE networks
        SET last_contact_at = greatest(last_contact_at, coalesce(%(at)s, now())),
            last_push_at = CASE WHEN %(push)s THEN coalesce(%(at)s, now()) ELSE last_push_at END
        WHERE id = %(id)s
        """,
        {"id": network_id, "push": push, "at": at},
    )


async def update_registration(
    tx: Tx,
    network_id: int,
    *,
    status: str,
    ocpi_version: str,
    versions_url: str | None,
    endpoints: list[dict[str, Any]],
    outbound_token: str | None,
    outbound_auth: str,
    business_details: dict[str, Any] | None,
) -> None:
    await tx.conn.execute(
        """
        UPDATE networks
        SET status = %s, ocpi_version = %s, versions_url = %s, endpoints = %s,
            outbound_token = %s, outbound_auth = %s, business_details = %s,
            last_contact_at = now(), revoked_at = NULL
        WHERE id = %s
        """,
        (
            status,
            ocpi_version,
            versions_url,
            Jsonb(endpoints),
            outbound_token,
            outbound_auth,
            Jsonb(business_details) if business_details is not None else None,
            network_id,
        ),
    )


class NetworkSummary(msgspec.Struct, kw_only=True):
    name: str
    kind: str
    status: str
    ocpi_version: str | None
    parties: list[str]
    hub: bool
    modules: list[ModuleStatus]  # each pulled module's own status
    last_push_at: datetime | None
    last_contact_at: datetime | None
    last_registration_at: datetime | None
    last_registration_initiator: str | None
    last_registration_error: str | None
    locations: int
    visible_locations: int
    evses: int
    quarantined: int
    notes: int
    healthy: bool
    health: str


async def list_networks(db: Db, *, stale_after_s: int) -> list[NetworkSummary]:
    async with using(db) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT n.*,
                   coalesce((SELECT array_agg(p.country_code || '*' || p.party_id
                                              ORDER BY p.country_code, p.party_id)
                             FROM network_parties p WHERE p.network_id = n.id), '{}') AS parties,
                   EXISTS (SELECT 1 FROM network_parties p
                           WHERE p.network_id = n.id AND p.role = 'HUB') AS hub,
                   (SELECT count(*) FROM locations l WHERE l.network_id = n.id) AS locations,
                   (SELECT count(*) FROM locations l WHERE l.network_id = n.id AND l.visible)
                       AS visible_locations,
                   (SELECT coalesce(sum(l.evse_count), 0) FROM locations l
                    WHERE l.network_id = n.id) AS evses,
                   (SELECT count(*) FROM quarantine q
                    WHERE q.network_id = n.id AND q.severity = 'rejected') AS quarantined,
                   (SELECT count(*) FROM quarantine q
                    WHERE q.network_id = n.id AND q.severity = 'note') AS notes,
                   extract(epoch FROM now() - n.last_contact_at) AS silent_s, now() AS now
            FROM networks n
            WHERE n.kind <> 'subscriber'  -- downstream platforms: `wattlas subscribers list`
            ORDER BY n.name
            """
        )
        rows = await cur.fetchall()
    modules = await module_status(db, [r["id"] for r in rows])
    out = []
    for r in rows:
        pulled = modules.get(r["id"], [])
        healthy, health = _health(r, pulled, stale_after_s)
        out.append(
            NetworkSummary(
                name=r["name"],
                kind=r["kind"],
                status=r["status"],
                ocpi_version=r["ocpi_version"],
                parties=list(r["parties"]),
                hub=r["hub"],
                modules=pulled,
                last_push_at=r["last_push_at"],
                last_contact_at=r["last_contact_at"],
                last_registration_at=r["last_registration_at"],
                last_registration_initiator=r["last_registration_initiator"],
                last_registration_error=r["last_registration_error"],
                locations=r["locations"],
                visible_locations=r["visible_locations"],
                evses=int(r["evses"]),
                quarantined=r["quarantined"],
                notes=r["notes"],
                healthy=healthy,
                health=health,
            )
        )
    return out


def _health(
    row: dict[str, Any], modules: list[ModuleStatus], stale_after_s: int
) -> tuple[bool, str]:
    """One line: whether drivers can trust this network's data now, and why not."""
    if row["status"] == "REVOKED":
        return False, "revoked"
    if row["kind"] == "file":
        return True, "static dump (statuses are a snapshot, never live)"
    if row["status"] in ("INVITED", "PENDING"):
        why = row["last_registration_error"]
        return False, "registration not completed" + (f": {why}" if why else "")
    failing = [m for m in modules if m.last_status == "failed"]
    never_ok = [m for m in failing if m.last_ok_at is None]
    limit = row["stale_after_s"] if row["stale_after_s"] is not None else stale_after_s
    silent = row["silent_s"]
    if silent is None:
        if never_ok:
            return False, f"{never_ok[0].module} pull failing: {never_ok[0].last_error}"
        return False, "never in contact"
    if any(m.module == "locations" for m in never_ok):
        return False, f"locations pull failing: {never_ok[0].last_error}"
    if network_silent(row["last_contact_at"], row["now"], stale_after_s, row["stale_after_s"]):
        return False, f"silent for {int(silent)} s (limit {limit} s): statuses are stale"
    if failing:
        return True, "live; last " + "; ".join(
            f"{m.module} pull failed: {m.last_error}" for m in failing
        )
    return True, "live"


async def record_registration(db: Db, name: str, *, initiator: str, error: str | None) -> None:
    """The outcome of a credentials handshake attempt (``initiator``: us | peer), for a network
    we know by name (a failed first ``networks add`` leaves no network to record it on)."""
    async with using(db) as conn:
        await conn.execute(
            "UPDATE networks SET last_registration_at = now(),"
            " last_registration_initiator = %s, last_registration_error = %s WHERE name = %s",
            (initiator, error, name),
        )


# ---- what drivers filter by ----------------------------------------------------------------
_PARTY_NETWORKS = f"""
    SELECT l.country_code, l.party_id, n.name AS source, count(*) AS locations,
           sum(l.evse_count) AS evses, NOT {NETWORK_SILENT} AS live,
           n.last_contact_at, min(l.operator_name) AS operator
    FROM locations l
    JOIN networks n ON n.id = l.network_id
    WHERE l.visible
    GROUP BY l.country_code, l.party_id, n.id
    ORDER BY count(*) DESC, l.country_code, l.party_id
"""


async def party_networks(db: Db, *, now: datetime, stale_after_s: int) -> list[dict[str, Any]]:
    """The networks drivers can filter by: each party (``CC*PID``) with visible locations, the
    network its data comes from, its counts and whether its statuses are live."""
    async with using(db) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_PARTY_NETWORKS, {"now": now, "stale_after_s": stale_after_s})
        return await cur.fetchall()


# ---- registration states -----------------------------------------------------------------------
async def mark_revoked(tx: Tx, network_id: int) -> None:
    """Every token stops working; the network's data stays."""
    await revoke_tokens(tx, network_id)
    await tx.conn.execute(
        "UPDATE networks SET status = 'REVOKED', revoked_at = now() WHERE id = %s", (network_id,)
    )


async def delete_network(tx: Tx, network_id: int) -> None:
    """Forget a network that never completed its registration (nothing of it is stored)."""
    await tx.conn.execute("DELETE FROM networks WHERE id = %s", (network_id,))


async def rebase_urls(tx: Tx, old_base: str, new_base: str) -> int:
    """Networks reached under ``old_base`` are now under ``new_base`` (a peer that moved, such as
    the sandbox on another port): their versions URL and endpoint URLs follow."""
    cur = await tx.conn.execute(
        """
        UPDATE networks
        SET versions_url = %(new)s || substr(versions_url, length(%(old)s) + 1),
            endpoints = replace(endpoints::text, %(old_json)s, %(new_json)s)::jsonb
        WHERE versions_url LIKE %(like)s
        """,
        {
            "old": old_base,
            "new": new_base,
            "old_json": f'"{old_base}',
            "new_json": f'"{new_base}',
            "like": old_base.replace("%", "\\%").replace("_", "\\_") + "/%",
        },
    )
    return cur.rowcount


async def active_names(db: Db) -> set[str]:
    """Names of every network that is not revoked."""
    async with using(db) as conn:
        cur = await conn.execute("SELECT name FROM networks WHERE status <> 'REVOKED'")
        return {row[0] for row in await cur.fetchall()}


async def ids_by_name(db: Db, names: list[str]) -> list[tuple[int, str]]:
    async with using(db) as conn:
        cur = await conn.execute("SELECT id, name FROM networks WHERE name = ANY(%s)", (names,))
        return [(row[0], row[1]) for row in await cur.fetchall()]


class SubscriberSummary(msgspec.Struct, kw_only=True):
    """A downstream platform (issue 14): registered how, and when it last pulled."""

    name: str
    status: str
    ocpi_version: str | None
    versions_url: str | None
    business_name: str | None
    created_at: datetime
    last_registration_at: datetime | None
    last_registration_error: str | None
    last_pull_at: datetime | None
    revoked_at: datetime | None


async def list_subscribers(db: Db) -> list[SubscriberSummary]:
    async with using(db) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT name, status, ocpi_version, versions_url,
                   business_details->>'name' AS business_name, created_at,
                   last_registration_at, last_registration_error,
                   last_contact_at AS last_pull_at, revoked_at
            FROM networks WHERE kind = 'subscriber' ORDER BY name
            """
        )
        return [SubscriberSummary(**row) for row in await cur.fetchall()]


async def network_kind(db: Db, name: str) -> str:
    async with using(db) as conn:
        cur = await conn.execute("SELECT kind FROM networks WHERE name = %s", (name,))
        row = await cur.fetchone()
    if row is None:
        raise UnknownNetwork(f"no network or subscriber named {name!r}")
    return str(row[0])
