"""How long a location's ``open_now`` stays what it is (issue 15): the nearby index in memory
keeps each location's encoded summary until the first instant its opening hours could change
``open_now``, instead of calling ``wattlas_open_now`` for every row of every answer.

``wattlas_open_now_until(hours, tz, at)`` is the first instant after ``at`` at which
``wattlas_open_now(hours, tz, ·)`` may change, NULL when it never does (no hours, or open 24/7
without exceptional periods). Candidates: every exceptional period's begin and end; for regular
hours, every period's begin and end and every midnight, in the location's time zone, from the
day before to a week after (a candidate where nothing changes only costs a re-read). Regular
hours also cap it at ten minutes: a period that begins or ends inside a daylight-saving gap has
no local instant of its own, and ten minutes bounds how late that once-a-year edge can be.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

OPEN_NOW_UNTIL = """
CREATE OR REPLACE FUNCTION wattlas_open_now_until(hours jsonb, tz text, at timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
    WITH exceptional AS (
        SELECT p FROM jsonb_array_elements(
            coalesce(hours->'exceptional_closings', '[]'::jsonb)
            || coalesce(hours->'exceptional_openings', '[]'::jsonb)) p
    ), regular AS (
        SELECT tz IS NOT NULL AND NOT coalesce((hours->>'twentyfourseven')::boolean, false) AS used
    )
    SELECT min(t) FROM (
        SELECT (p->>'period_begin')::timestamptz AS t FROM exceptional
        UNION ALL
        SELECT (p->>'period_end')::timestamptz FROM exceptional
        UNION ALL
        SELECT ((at AT TIME ZONE tz)::date + d + hm::time) AT TIME ZONE tz
        FROM regular,
             jsonb_array_elements(coalesce(hours->'regular_hours', '[]'::jsonb)) p,
             LATERAL (VALUES (p->>'period_begin'), (p->>'period_end'), ('00:00')) b(hm),
             generate_series(-1, 7) d
        WHERE regular.used
        UNION ALL
        SELECT at + interval '10 minutes' FROM regular WHERE regular.used
    ) candidates
    WHERE t > at AND hours IS NOT NULL
$fn$;
"""


def upgrade() -> None:
    op.execute(OPEN_NOW_UNTIL)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS wattlas_open_now_until(jsonb, text, timestamptz)")
