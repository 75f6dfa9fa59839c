"""Downstream platforms (issue 14, "OCPI sender"): a network of kind ``subscriber`` registers
with us over the credentials handshake (we are its HUB) and pulls our aggregated Locations and
Tariffs. It owns no party and its tokens only read (``ingest.receiver.sender``); the rest of its
record (status, tokens, version, endpoints, its token for us, last contact) is a network's.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("kind", "networks", type_="check")
    op.create_check_constraint(
        "kind", "networks", "kind IN ('ocpi', 'file', 'registry', 'subscriber')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM networks WHERE kind = 'subscriber'")
    op.drop_constraint("kind", "networks", type_="check")
    op.create_check_constraint("kind", "networks", "kind IN ('ocpi', 'file', 'registry')")
