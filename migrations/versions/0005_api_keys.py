"""API keys (issue 11) and the EVSE id lookup of text search.

``api_keys``: one row per key an app developer was given with ``wattlas keys create``. Only the
SHA-256 of the key is stored (keys are 256 random bits, so a plain hash cannot be reversed or
guessed; the key itself is printed once), with a short prefix to recognise it by in listings,
its rate limit per minute and its daily quota. Revoked and rotated keys stay, with their times.
The counters themselves live in Redis (derived state, architecture.md).

``wattlas_id_key(text)``: an EVSE id without separators, upper-cased, so that
``NL*PGO*ABL00002*1``, ``NL.PGO.ABL00002*1`` and ``nlpgoabl000021`` meet (eMI3 ids are written
with and without ``*``). Indexed on ``evses.evse_id`` and ``evses.uid`` (``text_pattern_ops``:
exact ids and id prefixes). Expression indexes on columns a status push never changes, so
status updates stay HOT (migration 0002).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID_KEY = """
CREATE FUNCTION wattlas_id_key(id text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN upper(regexp_replace(id, '[^0-9A-Za-z]+', '', 'g'))
"""


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_sha256", sa.LargeBinary(), nullable=False),
        sa.Column("key_prefix", sa.Text(), nullable=False),
        sa.Column("rate_per_min", sa.Integer(), nullable=False),
        sa.Column("daily_quota", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("rate_per_min > 0", name=op.f("ck_api_keys_rate_per_min")),
        sa.CheckConstraint("daily_quota > 0", name=op.f("ck_api_keys_daily_quota")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("name", name=op.f("uq_api_keys_name")),
        sa.UniqueConstraint("key_sha256", name=op.f("uq_api_keys_key_sha256")),
    )
    op.execute(ID_KEY)
    op.execute(
        "CREATE INDEX ix_evses_evse_id_key ON evses (wattlas_id_key(evse_id) text_pattern_ops)"
    )
    op.execute("CREATE INDEX ix_evses_uid_key ON evses (wattlas_id_key(uid) text_pattern_ops)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_evses_uid_key")
    op.execute("DROP INDEX IF EXISTS ix_evses_evse_id_key")
    op.execute("DROP FUNCTION IF EXISTS wattlas_id_key(text)")
    op.drop_table("api_keys")
