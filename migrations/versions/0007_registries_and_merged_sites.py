"""Open registries and one station once (issue 12).

- ``networks.kind`` gains ``registry``: a national or community register (``afdc``,
  ``bnetza``, ``ukncr``, ``ocm``), imported with ``wattlas import``.
- ``locations.merged_into``: a location that describes the same site as another source's
  location points at it (the site's head, which answers for the site) and is hidden;
  ``merged_sources`` on the head lists what each merged record says (its provenance and its
  claims), so that answers name every source without a join; ``merge_score`` is the score the
  record was merged with.
- ``source_imports``: one row per ``wattlas import`` run (files with their SHA-256, counts),
  what ``GET /v1/sources`` reports as the last import.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_constraint("kind", "networks", type_="check")
    op.create_check_constraint("kind", "networks", "kind IN ('ocpi', 'file', 'registry')")
    op.add_column(
        "locations",
        sa.Column(
            "merged_into",
            sa.BigInteger(),
            sa.ForeignKey(
                "locations.id", ondelete="SET NULL", name="fk_locations_merged_into_locations"
            ),
            nullable=True,
        ),
    )
    op.add_column("locations", sa.Column("merge_score", sa.Double(), nullable=True))
    op.add_column(
        "locations",
        sa.Column("merged_sources", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.create_index(
        "ix_locations_merged_into",
        "locations",
        ["merged_into"],
        postgresql_where=sa.text("merged_into IS NOT NULL"),
    )
    op.create_table(
        "source_imports",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column(
            "files",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("status", sa.Text(), server_default="running", nullable=False),
        sa.Column("started_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("rows", sa.Integer(), server_default="0", nullable=False),
        sa.Column("records", sa.Integer(), server_default="0", nullable=False),
        sa.Column("accepted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unchanged", sa.Integer(), server_default="0", nullable=False),
        sa.Column("skipped_older", sa.Integer(), server_default="0", nullable=False),
        sa.Column("quarantined", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'complete', 'failed')", name=op.f("ck_source_imports_status")
        ),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["networks.id"],
            name=op.f("fk_source_imports_network_id_networks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_imports")),
    )
    op.create_index(
        op.f("ix_source_imports_network_id_started_at"),
        "source_imports",
        ["network_id", "started_at"],
    )


def downgrade() -> None:
    registries = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM networks WHERE kind = 'registry'"))
        .scalar_one()
    )
    if registries:
        # Their locations would have no network kind to belong to: refuse rather than delete.
        raise RuntimeError(
            f"{registries} registry network(s) hold data: remove them before downgrading 0007"
        )
    op.drop_index(op.f("ix_source_imports_network_id_started_at"), table_name="source_imports")
    op.drop_table("source_imports")
    op.drop_index("ix_locations_merged_into", table_name="locations")
    op.drop_column("locations", "merged_sources")
    op.drop_column("locations", "merge_score")
    op.drop_column("locations", "merged_into")
    op.drop_constraint("kind", "networks", type_="check")
    op.create_check_constraint("kind", "networks", "kind IN ('ocpi', 'file')")
