"""Text search (``GET /v1/search``) and the upkeep of the text it searches.

A query is answered in tiers, each one statement answered from an index:

1. **EVSE ids** (when the query looks like one, ``app.domain.text.evse_id_key``): locations
   with an EVSE whose ``evse_id`` or ``uid``, without separators, is the query (or starts with
   it): the expression indexes of migration 0005.
2. **Every word** (the last one may be a prefix, as typed so far): the GIN index on
   ``search_words``; closest first with a position (the GiST nearest-neighbour scan), best
   ``ts_rank`` first without.
3. **Similar spellings** (typos), only while fewer than ``limit`` were found: the trigram
   index; by similarity, weighed by distance when a position is given
   (``app.domain.text.distance_weighted``).

Locations whose text says they are a test (``app.domain.text.looks_like_test``) come after every
real match: each tier returns them apart and they are put last.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from app.domain.filters import Filters
from app.domain.text import (
    ID_PREFIX_CHARS,
    SEARCH_DISTANCE_SCALE_M,
    TEST_WORDS,
    evse_id_key,
    query_terms,
    search_text,
)
from app.store.core import Db, Store, discovery_read, using
from app.store.pieces import Sql, location_filters, point, summary_columns

Row = dict[str, Any]
# How many locations whose EVSE ids start with the query are considered before ranking.
ID_CANDIDATES = 200


@discovery_read
async def _fetch(store: Store, sql: str, params: dict[str, Any]) -> list[Row]:
    async with store.discovery_connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchall()


def test_named(q: Sql) -> str:
    """The location's text says it is a test (the SQL twin of ``looks_like_test``)."""
    words = q.bind("test_words", " | ".join(TEST_WORDS))
    return f"(l.search_words @@ to_tsquery('simple', {words}))"


async def text_search(
    store: Store,
    *,
    query: str,
    lat: float | None,
    lon: float | None,
    limit: int,
    filters: Filters,
    now: datetime,
    stale_after_s: int,
) -> list[Row]:
    """Locations matching ``query`` as typed (folded here), best first; each row has
    ``score`` (0–1, how well the words match; 1 for an EVSE id) and, with a position,
    ``distance_m``."""
    terms = query_terms(query)
    if not terms:
        return []
    ask: dict[str, Any] = {
        "lat": lat,
        "lon": lon,
        "limit": limit,
        "filters": filters,
        "now": now,
        "stale_after_s": stale_after_s,
    }
    found: list[Row] = []
    key = evse_id_key(query)
    if key is not None:
        found += await _evse_ids(store, key=key, **ask)
    if _real(found) < limit:
        found += await _every_word(store, terms=terms, exclude=_pks(found), **ask)
    if _real(found) < limit:
        text = " ".join(alternatives[0] for alternatives in terms)
        found += await _similar(
            store, text=text, exclude=_pks(found), **{**ask, "limit": limit - _real(found)}
        )
    ranked = [r for r in found if not r["test_named"]] + [r for r in found if r["test_named"]]
    return ranked[:limit]


def _real(rows: list[Row]) -> int:
    return sum(1 for r in rows if not r["test_named"])


def _pks(rows: list[Row]) -> list[int]:
    return [r["pk"] for r in rows]


def _point(q: Sql, lat: float | None, lon: float | None) -> str | None:
    return point(q, lat, lon) if lat is not None and lon is not None else None


def _excluding(q: Sql, exclude: list[int]) -> None:
    if exclude:
        q.where.append(f"NOT (l.id = ANY({q.bind('exclude', exclude)}))")


async def _evse_ids(
    store: Store,
    *,
    key: str,
    lat: float | None,
    lon: float | None,
    limit: int,
    filters: Filters,
    now: datetime,
    stale_after_s: int,
) -> list[Row]:
    q = Sql.at(now, stale_after_s)
    matches = [f"wattlas_id_key(e.{c}) = {q.bind('key', key)}" for c in ("evse_id", "uid")]
    if len(key) >= ID_PREFIX_CHARS:
        # ~>=~ / ~<~ are the operators of the text_pattern_ops indexes: a prefix as a range,
        # usable with any bound value (LIKE 'x%' needs the pattern at plan time).
        end = q.bind("key_end", key + "\x7f")
        matches += [
            f"(wattlas_id_key(e.{c}) ~>=~ %(key)s AND wattlas_id_key(e.{c}) ~<~ {end})"
            for c in ("evse_id", "uid")
        ]
    location_filters(q, filters)
    here = _point(q, lat, lon)
    distance = f"ST_Distance(l.geog, {here})" if here else "NULL::float8"
    sql = f"""
        WITH hits AS (
            SELECT e.location_id AS id,
                   bool_or(wattlas_id_key(e.evse_id) = %(key)s
                           OR wattlas_id_key(e.uid) = %(key)s) AS exact
            FROM evses e
            WHERE e.visible AND ({" OR ".join(matches)})
            GROUP BY e.location_id
            LIMIT {ID_CANDIDATES}
        )
        SELECT {summary_columns(q, filters)}, 1.0::float8 AS score, {distance} AS distance_m,
               {test_named(q)} AS test_named
        FROM hits
        JOIN locations l ON l.id = hits.id
        JOIN networks n ON n.id = l.network_id
        WHERE {" AND ".join(q.where)}
        ORDER BY test_named, NOT hits.exact, distance_m, l.id
        LIMIT {q.bind("limit", limit)}
    """
    return await _fetch(store, sql, q.params)


def ts_query(terms: list[tuple[str, ...]]) -> str:
    """``to_tsquery`` text: every word (one of its spellings), the last one as a prefix."""
    groups = []
    for i, alternatives in enumerate(terms):
        suffix = ":*" if i == len(terms) - 1 else ""
        groups.append("(" + " | ".join(f"{a}{suffix}" for a in alternatives) + ")")
    return " & ".join(groups)


async def _every_word(
    store: Store,
    *,
    terms: list[tuple[str, ...]],
    exclude: list[int],
    lat: float | None,
    lon: float | None,
    limit: int,
    filters: Filters,
    now: datetime,
    stale_after_s: int,
) -> list[Row]:
    q = Sql.at(now, stale_after_s)
    words = f"to_tsquery('simple', {q.bind('tsq', ts_query(terms))})"
    matches = f"l.search_words @@ {words}"
    q.where.append(matches)
    _excluding(q, exclude)
    location_filters(q, filters)
    here = _point(q, lat, lon)
    # With a point, the GiST nearest-neighbour scan meets the matches closest first; real and
    # test locations are two such scans, each with its own LIMIT.
    key = f"l.geog <-> {here}" if here else f"-ts_rank(l.search_words, {words})"
    distance = f"ST_Distance(l.geog, {here})" if here else "NULL::float8"
    test = test_named(q)
    # The few locations named as tests are found through the index by their test words, and
    # the query's words are checked on those alone (``|| ''`` keeps the planner from the index
    # for them): the GIN scan of the query's words, most of the statement's time, runs once.
    unindexed = f"(l.search_words || ''::tsvector) @@ {words}"
    where = {
        "false": " AND ".join([*q.where, f"NOT {test}"]),
        "true": " AND ".join([unindexed if w == matches else w for w in q.where] + [test]),
    }
    limit_param = q.bind("limit", limit)
    branches = [
        f"""(SELECT l.id, {flag} AS test_named, {key} AS sort_key
             FROM locations l JOIN networks n ON n.id = l.network_id
             WHERE {where[flag]}
             ORDER BY {key}, l.id
             LIMIT {limit_param})"""
        for flag in ("false", "true")
    ]
    text = " ".join(alternatives[0] for alternatives in terms)
    sql = f"""
        WITH page AS ({" UNION ALL ".join(branches)})
        SELECT {summary_columns(q, filters)},
               word_similarity({q.bind("q", text)}, l.search_text) AS score,
               {distance} AS distance_m, page.test_named
        FROM page
        JOIN locations l ON l.id = page.id
        JOIN networks n ON n.id = l.network_id
        ORDER BY page.test_named, page.sort_key, l.id
    """
    return await _fetch(store, sql, q.params)


async def _similar(
    store: Store,
    *,
    text: str,
    exclude: list[int],
    lat: float | None,
    lon: float | None,
    limit: int,
    filters: Filters,
    now: datetime,
    stale_after_s: int,
) -> list[Row]:
    q = Sql.at(now, stale_after_s)
    bound = q.bind("q", text)
    q.where.append(f"{bound} <%% l.search_text")
    _excluding(q, exclude)
    location_filters(q, filters)
    here = _point(q, lat, lon)
    distance = f"ST_Distance(l.geog, {here})" if here else "NULL::float8"
    # app.domain.text.distance_weighted, in SQL.
    scale = q.bind("scale_m", SEARCH_DISTANCE_SCALE_M)
    rank = f"m.score / (1 + m.distance_m / {scale})" if here else "m.score"
    order = f"m.test_named, {rank} DESC, m.id"
    sql = f"""
        WITH matches AS (
            SELECT l.id, word_similarity({bound}, l.search_text) AS score,
                   {distance} AS distance_m, {test_named(q)} AS test_named
            FROM locations l JOIN networks n ON n.id = l.network_id
            WHERE {" AND ".join(q.where)}
        ),
        page AS (
            SELECT * FROM matches m ORDER BY {order} LIMIT {q.bind("limit", limit)}
        )
        SELECT {summary_columns(q, filters)}, page.score, page.distance_m, page.test_named
        FROM page
        JOIN locations l ON l.id = page.id
        JOIN networks n ON n.id = l.network_id
        ORDER BY {order.replace("m.", "page.")}
    """
    return await _fetch(store, sql, q.params)


# ---- upkeep --------------------------------------------------------------------------------------
# The columns the search text of a location is made of (as ingest writes it:
# ``search_text(name, address, postal_code, city, operator_name)``).
_SOURCE_COLUMNS = "name, address, postal_code, city, operator_name"
REFOLD_BATCH = 2000


async def refold_search_text(db: Db) -> int:
    """Recompute the stored search text of every location whose text has other than ASCII
    letters, where the folding rules give a different text now (the rules of issue 11
    transliterate; text stored before keeps the old folding until rewritten). Pure ASCII
    folds the same under both rules, so only those rows are read. How many were rewritten."""
    changed = 0
    after = 0
    async with using(db) as conn:
        while True:
            cur = await conn.execute(
                f"""
                SELECT id, search_text, {_SOURCE_COLUMNS} FROM locations
                WHERE id > %s
                  AND concat_ws(' ', {_SOURCE_COLUMNS}) ~ '[^\\x01-\\x7f]'
                ORDER BY id
                LIMIT %s
                """,
                (after, REFOLD_BATCH),
            )
            rows = await cur.fetchall()
            if not rows:
                return changed
            after = rows[-1][0]
            updates = [(text, row[0]) for row in rows if (text := search_text(*row[2:])) != row[1]]
            if updates:
                async with conn.cursor() as write:
                    await write.executemany(
                        "UPDATE locations SET search_text = %s WHERE id = %s", updates
                    )
                changed += len(updates)
