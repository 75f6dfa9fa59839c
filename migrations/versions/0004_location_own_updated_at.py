"""The time of a location's own fields, apart from its ``last_updated``.

``last_updated`` is bumped by every change of an EVSE or connector (OCPI 2.2.1 §3.3); comparing a
PUT of the whole location against it would refuse an older PUT that a newer status PATCH
overtook, losing what only the PUT said (an EVSE it adds). ``own_updated_at`` is the
``last_updated`` of the last applied version of the location's own fields: a PUT's fields are
compared with it, each EVSE with the EVSE's own time (issue 9: concurrent writes end where the
same writes one by one, in ``last_updated`` order, would).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("locations", sa.Column("own_updated_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE locations SET own_updated_at = last_updated")
    op.alter_column("locations", "own_updated_at", nullable=False)


def downgrade() -> None:
    op.drop_column("locations", "own_updated_at")
