"""The change feed numbered by one sequencer instead of under a lock held through every commit
(issue 14; replaces how 0009 numbered it).

0009 numbered each writing transaction's changes under one advisory lock held until that
transaction had committed. Correct, but the lock is held through the commit's WAL flush, so
writers' commits queued behind each other: the push benchmark lost 30 % with it (1,885 → 1,288
pushes/s, three interleaved runs each).

Now a writer's last statement only appends its changes to ``change_queue`` (no lock), and
``wattlas_sequence_changes()`` moves every committed row of the queue into ``changes``,
numbered in queue order, in one transaction at a time (a try-lock: a second caller returns at
once). What this keeps:

- exactly once, no gap: a number is given only to a committed change, and the numbers of one
  round become visible together, after every earlier round's;
- the order of any two writes of one location: every writer holds the location's lock until it
  commits and appends its changes as its last statement, so the second writer's queue rows come
  after the first's, and the first's commit is visible no later than the second's;
- writes of different locations may be numbered in any order between them, which changes
  nothing a reader applies.

The API sequences before each read of the feed, before a snapshot, and every second in each API
process, so a change is numbered within about a second of its commit without any reader.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SEQUENCER_LOCK = (727004, 1)  # app.store.locks.CHANGE_FEED, 1

RECORD_FUNCTION = """
CREATE OR REPLACE FUNCTION wattlas_record_changes(
    kinds text[], location_pks bigint[], tariff_pks bigint[]
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO change_queue (kind, location_pk, public_id, tariff_pk)
    SELECT u.kind, u.location_pk,
           coalesce(l.public_id, t.country_code || '*' || t.party_id || '*' || t.tariff_id),
           u.tariff_pk
    FROM unnest(kinds, location_pks, tariff_pks) AS u(kind, location_pk, tariff_pk)
    LEFT JOIN locations l ON l.id = u.location_pk
    LEFT JOIN tariffs t ON t.id = u.tariff_pk
$$
"""

SEQUENCE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION wattlas_sequence_changes() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    moved bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock({SEQUENCER_LOCK[0]}, {SEQUENCER_LOCK[1]}) THEN
        RETURN -1;  -- another sequencer is at it; its round covers what this one would move
    END IF;
    WITH taken AS (DELETE FROM change_queue RETURNING *)
    INSERT INTO changes (seq, kind, location_pk, public_id, tariff_pk, committed_at)
    SELECT nextval('changes_seq'), q.kind, q.location_pk, q.public_id, q.tariff_pk,
           q.committed_at
    FROM (SELECT * FROM taken ORDER BY id) q;  -- numbered in queue order
    GET DIAGNOSTICS moved = ROW_COUNT;
    RETURN moved;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "change_queue",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("location_pk", sa.BigInteger(), nullable=True),
        sa.Column("public_id", sa.Text(), nullable=True),
        sa.Column("tariff_pk", sa.BigInteger(), nullable=True),
        sa.Column(
            "committed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_queue")),
    )
    op.execute(RECORD_FUNCTION)
    op.execute(SEQUENCE_FUNCTION)


def downgrade() -> None:
    op.execute("SELECT wattlas_sequence_changes()")
    op.execute("DROP FUNCTION IF EXISTS wattlas_sequence_changes()")
    op.drop_table("change_queue")
    op.execute(importlib.import_module("migrations.versions.0009_change_feed").RECORD_FUNCTION)
