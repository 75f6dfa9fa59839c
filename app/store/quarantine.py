"""The quarantine: every rejected object and every repair note, with its reason and the raw
input (architecture.md, "Storage"). Nothing is dropped silently."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.rows import dict_row

from app.store.core import Db, Tx, using
from app.store.records import Problem


async def record_problems(
    tx: Tx, problems: Sequence[Problem], *, network_id: int | None, source: str
) -> None:
    """Keep every rejected object and every repair note, with its reason (one COPY)."""
    if not problems:
        return
    async with (
        tx.conn.cursor() as cur,
        cur.copy(
            "COPY quarantine (network_id, source, object_kind, object_key, severity, reason, raw,"
            " raw_text) FROM STDIN"
        ) as copy,
    ):
        for p in problems:
            # Problem.raw is one JSON object (a slice of a decoded page); raw_text is anything
            # else. Neither column holds U+0000: such input is kept as escaped text.
            raw_json = p.raw.decode("utf-8", errors="replace") if p.raw is not None else None
            raw_text = p.raw_text
            if raw_json is not None and ("\\u0000" in raw_json or "\x00" in raw_json):
                raw_json, raw_text = None, raw_json
            await copy.write_row(
                (
                    network_id,
                    source,
                    p.object_kind,
                    _no_nul(p.object_key),
                    p.severity,
                    _no_nul(p.reason) or "",
                    raw_json,
                    _no_nul(raw_text),
                )
            )


async def entries(
    db: Db, *, severity: str, network: str | None, limit: int | None
) -> list[dict[str, Any]]:
    """The newest entries of one severity (``rejected`` or ``note``), of one network or all:
    network, source, object_kind, object_key, reason, received_at."""
    async with using(db) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT n.name AS network, q.source, q.object_kind, q.object_key, q.reason,
                   q.received_at
            FROM quarantine q LEFT JOIN networks n ON n.id = q.network_id
            WHERE q.severity = %(severity)s AND (%(network)s::text IS NULL OR n.name = %(network)s)
            ORDER BY q.id DESC
            LIMIT %(limit)s
            """,
            {"severity": severity, "network": network, "limit": limit},
        )
        return await cur.fetchall()


def _no_nul(text: str | None) -> str | None:
    return text.replace("\x00", "\\u0000") if text is not None else None
