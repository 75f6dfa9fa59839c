"""The status of each pulled module of each network, read from ``sync_runs`` (the one record of
pulls): its last attempt and how it ended, its last success, its last complete full pull, and
what the last successful run counted. One module's success never hides another's failure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from app.store.core import Db, using

# The modules we pull, each with its own status (issue 10: one module's success must not hide
# another's failure).
PULLED_MODULES = ("locations", "tariffs", "hubclientinfo")

_MODULE_STATUS = """
SELECT m.network_id, m.module,
       last.started_at AS last_attempt_at, last.status AS last_status, last.error AS last_error,
       ok.started_at AS last_ok_at, full_ok.started_at AS last_full_ok_at,
       ok.objects, ok.accepted, ok.unchanged, ok.skipped_older, ok.quarantined, ok.notes
FROM (SELECT DISTINCT network_id, module FROM sync_runs
      WHERE %(network_ids)s::int[] IS NULL OR network_id = ANY(%(network_ids)s)) m
CROSS JOIN LATERAL (
    SELECT started_at, status, error FROM sync_runs r
    WHERE r.network_id = m.network_id AND r.module = m.module
    ORDER BY started_at DESC LIMIT 1) last
LEFT JOIN LATERAL (
    SELECT started_at, objects, accepted, unchanged, skipped_older, quarantined, notes
    FROM sync_runs r
    WHERE r.network_id = m.network_id AND r.module = m.module AND r.status = 'complete'
    ORDER BY started_at DESC LIMIT 1) ok ON true
LEFT JOIN LATERAL (
    SELECT started_at FROM sync_runs r
    WHERE r.network_id = m.network_id AND r.module = m.module AND r.status = 'complete'
      AND r.kind = 'full'
    ORDER BY started_at DESC LIMIT 1) full_ok ON true
ORDER BY m.network_id, m.module
"""


class ModuleStatus(msgspec.Struct, kw_only=True):
    """One pulled module of one network: its last attempt, its last success, what the last
    successful run counted."""

    module: str
    last_attempt_at: datetime | None
    last_status: str | None  # running | complete | failed
    last_error: str | None  # of the last attempt, when it failed
    last_ok_at: datetime | None
    last_full_ok_at: datetime | None
    objects: int = 0
    accepted: int = 0
    unchanged: int = 0
    skipped_older: int = 0
    quarantined: int = 0
    notes: list[str] = msgspec.field(default_factory=list)


async def module_status(
    db: Db, network_ids: Sequence[int] | None = None
) -> dict[int, list[ModuleStatus]]:
    """Per network, the status of each module it was ever pulled for."""
    async with using(db) as conn:
        cur = await conn.execute(
            _MODULE_STATUS, {"network_ids": list(network_ids) if network_ids else None}
        )
        rows = await cur.fetchall()
    out: dict[int, list[ModuleStatus]] = {}
    for r in rows:
        out.setdefault(r[0], []).append(
            ModuleStatus(
                module=r[1],
                last_attempt_at=r[2],
                last_status=r[3],
                last_error=r[4] if r[3] == "failed" else None,
                last_ok_at=r[5],
                last_full_ok_at=r[6],
                objects=r[7] or 0,
                accepted=r[8] or 0,
                unchanged=r[9] or 0,
                skipped_older=r[10] or 0,
                quarantined=r[11] or 0,
                notes=list(r[12] or []),
            )
        )
    return out
