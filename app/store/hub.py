"""What we send downstream as an OCPI hub (issue 14): our aggregated Locations and Tariffs, as
the OCPI Sender interface pages them (``date_from``/``date_to`` on ``last_updated``,
``offset``/``limit``), for platforms registered as subscribers.

Every visible location, whatever network or register it came from, as stored (the raw object
at each level, with the original party's identity); the same set as the public API's."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from psycopg.rows import dict_row

from app.store.core import Db, using
from app.store.locations import ABSENT_FROM_PUT, EVSE_TREE


class Window(NamedTuple):
    date_from: datetime | None  # last_updated at or after (OCPI: inclusive)
    date_to: datetime | None  # last_updated before (OCPI: exclusive)
    offset: int
    limit: int


def _where(window: Window, visible: str) -> tuple[str, dict[str, Any]]:
    where = [visible]
    params: dict[str, Any] = {"absent": ABSENT_FROM_PUT}
    if window.date_from is not None:
        where.append("t.last_updated >= %(date_from)s")
        params["date_from"] = window.date_from
    if window.date_to is not None:
        where.append("t.last_updated < %(date_to)s")
        params["date_to"] = window.date_to
    return " AND ".join(where), params


async def locations_page(db: Db, window: Window) -> tuple[int, list[dict[str, Any]]]:
    """(how many match in all, this page of them in id order with their EVSE trees)."""
    where, params = _where(window, "t.visible")
    async with using(db) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT count(*) AS n FROM locations t WHERE {where}", params)
        total = await cur.fetchone()
        await cur.execute(
            f"""
            SELECT l.country_code, l.party_id, l.ocpi_id_raw, l.time_zone, l.last_updated,
                   l.raw, {EVSE_TREE} AS evses
            FROM (SELECT t.id FROM locations t WHERE {where}
                  ORDER BY t.id OFFSET %(offset)s LIMIT %(limit)s) page
            JOIN locations l ON l.id = page.id
            ORDER BY l.id
            """,
            {**params, "offset": window.offset, "limit": window.limit},
        )
        rows = await cur.fetchall()
    return (int(total["n"]) if total else 0), rows


async def location_by_id(
    db: Db, location_id: str, party: tuple[str, str] | None
) -> list[dict[str, Any]]:
    """The visible locations with this OCPI id (of ``party`` when given): one, or several when
    parties share an id and the caller did not say whose (``OCPI-to-*``)."""
    params: dict[str, Any] = {"id": location_id.upper(), "absent": ABSENT_FROM_PUT}
    where = "l.ocpi_id = %(id)s AND l.visible"
    if party is not None:
        where += " AND (l.country_code, l.party_id) = (%(cc)s, %(pid)s)"
        params.update(cc=party[0], pid=party[1])
    async with using(db) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            SELECT l.country_code, l.party_id, l.ocpi_id_raw, l.time_zone, l.last_updated,
                   l.raw, {EVSE_TREE} AS evses
            FROM locations l WHERE {where} ORDER BY l.id LIMIT 2
            """,
            params,
        )
        return list(await cur.fetchall())


async def tariffs_page(db: Db, window: Window) -> tuple[int, list[dict[str, Any]]]:
    where, params = _where(window, "t.deleted_at IS NULL")
    async with using(db) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT count(*) AS n FROM tariffs t WHERE {where}", params)
        total = await cur.fetchone()
        await cur.execute(
            f"""
            SELECT t.country_code, t.party_id, t.tariff_id_raw, t.raw FROM tariffs t
            WHERE {where} ORDER BY t.id OFFSET %(offset)s LIMIT %(limit)s
            """,
            {**params, "offset": window.offset, "limit": window.limit},
        )
        rows = await cur.fetchall()
    return (int(total["n"]) if total else 0), rows
