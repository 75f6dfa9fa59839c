"""Room on each page for status updates: fillfactor 70 on locations, 80 on EVSEs.

A status push rewrites the EVSE row and the location's projection (counts, connector groups).
With free space on the same page and no indexed column changed, PostgreSQL updates in place
(HOT): no new index entries, less WAL, fewer pages to vacuum. Existing pages keep their layout
until rewritten (VACUUM FULL or pg_repack); new and updated rows use the free space at once.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE locations SET (fillfactor = 70)")
    op.execute("ALTER TABLE evses SET (fillfactor = 80)")


def downgrade() -> None:
    op.execute("ALTER TABLE locations RESET (fillfactor)")
    op.execute("ALTER TABLE evses RESET (fillfactor)")
