"""Which tariffs each kind of connector of a location lists, kept on the location (issue 13).

A priced discovery answer needs, per result, its connectors' kinds and the tariffs they link
to. Read from ``evses`` and ``connectors`` for each page it cost ~5 ms a page of 50 on the
300k benchmark dataset (plus ~9 ms of planning unprepared), more than the nearby query itself;
kept on the row, it is read with the summary, and only the tariffs' versions are looked up.

``tariff_links``: the distinct ``[standard, power_type, max_power_kw, [tariff id, …]]`` of the
visible connectors (of visible EVSEs) that list a tariff, in that order. Written by the bulk
path (``ingest.ocpi.groups.tariff_links``) and by ``refresh_projection.sql`` through
``wattlas_tariff_links``, which a test checks against each other.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TARIFF_LINKS_FUNCTION = """
CREATE OR REPLACE FUNCTION wattlas_tariff_links(location bigint) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_array(k.standard, k.power_type, k.max_power_kw,
                                                to_jsonb(k.tariff_ids))
                              -- the order of ingest.ocpi.groups.tariff_links (code points)
                              ORDER BY k.standard COLLATE "C", k.power_type COLLATE "C",
                                       k.max_power_kw, k.tariff_ids COLLATE "C"),
                    '[]'::jsonb)
    FROM (
        SELECT DISTINCT c.standard, c.power_type, c.max_power_kw, c.tariff_ids
        FROM evses e JOIN connectors c ON c.evse_pk = e.id AND c.visible
        WHERE e.location_id = location AND e.visible AND c.tariff_ids <> '{}'
    ) k
$$
"""


def upgrade() -> None:
    op.add_column(
        "locations",
        sa.Column("tariff_links", JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    op.execute(TARIFF_LINKS_FUNCTION)
    op.execute(
        "UPDATE locations l SET tariff_links = wattlas_tariff_links(l.id)"
        " WHERE EXISTS (SELECT 1 FROM evses e JOIN connectors c ON c.evse_pk = e.id"
        "               WHERE e.location_id = l.id AND c.tariff_ids <> '{}')"
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS wattlas_tariff_links(bigint)")
    op.drop_column("locations", "tariff_links")
