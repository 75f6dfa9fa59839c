"""One owner per party (architecture.md; issue 9, finding 1).

``network_parties.owner``: the network that owns the party and may write it. At most one owner
per party (a partial unique index); a party a network knows without owning it (a dump loaded
from a file, a party a hub routes for) has ``owner = false``. Existing rows: file networks own
nothing; of several OCPI networks naming the same party, the earliest registered keeps it.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "network_parties",
        sa.Column("owner", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )
    op.execute(
        """
        UPDATE network_parties p SET owner = false
        FROM networks n
        WHERE n.id = p.network_id
          AND (n.kind = 'file'
               OR EXISTS (SELECT 1 FROM network_parties q JOIN networks m ON m.id = q.network_id
                          WHERE m.kind = 'ocpi' AND q.network_id < p.network_id
                            AND (q.country_code, q.party_id) = (p.country_code, p.party_id)))
        """
    )
    op.create_index(
        "uq_network_parties_owner",
        "network_parties",
        ["country_code", "party_id"],
        unique=True,
        postgresql_where=sa.text("owner"),
    )


def downgrade() -> None:
    op.drop_index("uq_network_parties_owner", table_name="network_parties")
    op.drop_column("network_parties", "owner")
