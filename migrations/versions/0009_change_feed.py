"""The change feed for carmakers' and downstream platforms' copies (issue 14).

``changes``: one row per location (or tariff) a committed transaction changed, in commit order.
Every writer records what it touched on its ``Tx`` and ``wattlas_record_changes`` writes the
rows as its transaction's last statement, so a change is in the feed exactly when it is
committed, also across a crash of any process.

Commit order, not start order: a plain sequence hands numbers out when a row is inserted, so a
transaction that took 10 could commit after one that took 11, and a reader that had seen 11
would skip 10 for good. ``wattlas_record_changes`` first takes one transaction-level advisory
lock, held until the transaction has committed (and is visible); numbers are then taken in the
order transactions commit, and a reader that sees number n sees everything before it. Only the
last statement and the commit of writing transactions wait for each other (a write batch or a
pulled page is one transaction, not one push).

``kind``: ``location`` (created, changed, shown again), ``removed`` (hidden, merged into
another record, deleted), ``availability`` (only EVSE statuses moved), ``tariff``. A change
names what changed; what it is now is read with it (as CouchDB's ``_changes`` does).

``public_id``: the location's public id, or a tariff's ``CC*PARTY*ID``, as it was when written:
a tombstone outlives its row.

``changes_horizon``: the highest number pruned (older than the retention): a cursor before it
has missed changes and must start again from the snapshot.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

FEED_LOCK = (727004, 0)  # app.store.locks.CHANGE_FEED

RECORD_FUNCTION = f"""
CREATE OR REPLACE FUNCTION wattlas_record_changes(
    kinds text[], location_pks bigint[], tariff_pks bigint[]
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({FEED_LOCK[0]}, {FEED_LOCK[1]});
    INSERT INTO changes (seq, kind, location_pk, public_id, tariff_pk)
    SELECT nextval('changes_seq'), u.kind, u.location_pk,
           coalesce(l.public_id, t.country_code || '*' || t.party_id || '*' || t.tariff_id),
           u.tariff_pk
    FROM unnest(kinds, location_pks, tariff_pks) WITH ORDINALITY
         AS u(kind, location_pk, tariff_pk, ord)
    LEFT JOIN locations l ON l.id = u.location_pk
    LEFT JOIN tariffs t ON t.id = u.tariff_pk
    ORDER BY u.ord;
END
$$
"""


def upgrade() -> None:
    op.execute("CREATE SEQUENCE changes_seq AS bigint")
    op.create_table(
        "changes",
        sa.Column("seq", sa.BigInteger(), nullable=False),
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
        sa.CheckConstraint(
            "kind IN ('location', 'removed', 'availability', 'tariff')",
            name=op.f("ck_changes_kind"),
        ),
        sa.CheckConstraint(
            "(kind = 'tariff') = (tariff_pk IS NOT NULL AND location_pk IS NULL)",
            name=op.f("ck_changes_subject"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_changes")),
    )
    # Owned by its column: TRUNCATE … RESTART IDENTITY starts it again (the tests' clean slate).
    op.execute("ALTER SEQUENCE changes_seq OWNED BY changes.seq")
    op.create_index("ix_changes_committed_at", "changes", ["committed_at"])
    op.create_table(
        "changes_horizon",
        sa.Column("id", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("pruned_through", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("id", name=op.f("ck_changes_horizon_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_changes_horizon")),
    )
    op.execute("INSERT INTO changes_horizon DEFAULT VALUES")
    op.execute(RECORD_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS wattlas_record_changes(text[], bigint[], bigint[])")
    op.drop_table("changes_horizon")
    op.drop_index("ix_changes_committed_at", table_name="changes")
    op.drop_table("changes")  # drops the sequence it owns
