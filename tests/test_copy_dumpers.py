"""The staging COPY's own ``text[]`` dumper (app/store/copying.py) against the server's reading
of it: every list comes back as it went in, whatever its strings hold."""

from __future__ import annotations

import psycopg

from app.store.copying import use_fast_dumpers

LISTS: list[list[str | None]] = [
    [],
    ["AC"],
    ["IEC_62196_T2", "CHADEMO", "IEC_62196_T2_COMBO"],
    ["a,b", '"quoted"', "back\\slash", "{braces}", " spaced ", "", "NULL"],
    ["Kadıköy", "Москва", "東京", "tab\there", "new\nline", "emoji 🔌"],
    ["x", None, "y"],
    ["x" * 10_000],
]


async def test_text_lists_round_trip_through_binary_copy(conn: psycopg.AsyncConnection) -> None:
    await conn.execute("CREATE TEMP TABLE copied (i int4, v text[])")
    async with conn.cursor() as cur:
        use_fast_dumpers(cur)
        async with cur.copy("COPY copied (i, v) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "text[]"])
            for i, values in enumerate(LISTS):
                await copy.write_row((i, values))
        await cur.execute("SELECT v, cardinality(v), array_ndims(v) FROM copied ORDER BY i")
        rows = await cur.fetchall()
    assert [r[0] for r in rows] == LISTS
    assert [r[1] for r in rows] == [len(v) for v in LISTS]
    # An empty list is the empty array (no dimensions), as psycopg's own dumper sends it.
    assert [r[2] for r in rows] == [None] + [1] * (len(LISTS) - 1)
