"""Pull status per module, registration outcomes, parties learned from hubs (issue 10).

- ``sync_runs`` is the one record of pulls, per module: it gains the counts that make a run add
  up (``unchanged``, ``skipped_older``: ``accepted + unchanged + skipped_older + quarantined =
  objects``), ``notes`` (what the run worked around, e.g. a broken ``Link``), and the module
  ``hubclientinfo``. The per-network columns ``last_pull_*`` and ``last_full_pull_ok_at`` mixed
  the modules (a successful tariffs pull cleared the locations pull's error and marked a full
  pull OK): they are dropped, and what they said is read from ``sync_runs`` per module.
- ``networks.last_registration_*``: the outcome of the last credentials handshake attempt, in
  either direction, so ``networks list`` can say why a registration failed.
- ``network_parties.source``: how a party became known (its credentials, a hub's HubClientInfo,
  what the network serves, an operator, a file); ``client_status``: the HubClientInfo
  ConnectionStatus of a party a hub routes (CONNECTED, OFFLINE, PLANNED, SUSPENDED).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "sync_runs", sa.Column("unchanged", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "sync_runs", sa.Column("skipped_older", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "sync_runs",
        sa.Column(
            "notes",
            postgresql.JSONB(),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.drop_constraint("module", "sync_runs", type_="check")
    op.create_check_constraint(
        "module", "sync_runs", "module IN ('locations', 'tariffs', 'hubclientinfo')"
    )
    for column in (
        "last_pull_ok_at",
        "last_full_pull_ok_at",
        "last_pull_attempt_at",
        "last_pull_error",
    ):
        op.drop_column("networks", column)
    op.add_column("networks", sa.Column("last_registration_at", TS))
    op.add_column("networks", sa.Column("last_registration_initiator", sa.Text()))
    op.add_column("networks", sa.Column("last_registration_error", sa.Text()))
    op.add_column(
        "network_parties",
        sa.Column("source", sa.Text(), server_default="credentials", nullable=False),
    )
    op.execute(
        "UPDATE network_parties p SET source = 'file' FROM networks n"
        " WHERE n.id = p.network_id AND n.kind = 'file'"
    )
    op.create_check_constraint(
        "source",
        "network_parties",
        "source IN ('credentials', 'hubclientinfo', 'served', 'operator', 'file')",
    )
    op.add_column("network_parties", sa.Column("client_status", sa.Text()))
    op.add_column("network_parties", sa.Column("client_status_at", TS))
    op.create_check_constraint(
        "client_status",
        "network_parties",
        "client_status IN ('CONNECTED', 'OFFLINE', 'PLANNED', 'SUSPENDED')",
    )


def downgrade() -> None:
    op.drop_constraint("client_status", "network_parties", type_="check")
    op.drop_constraint("source", "network_parties", type_="check")
    for column in ("client_status_at", "client_status", "source"):
        op.drop_column("network_parties", column)
    for column in (
        "last_registration_error",
        "last_registration_initiator",
        "last_registration_at",
    ):
        op.drop_column("networks", column)
    op.add_column("networks", sa.Column("last_pull_error", sa.Text()))
    op.add_column("networks", sa.Column("last_pull_attempt_at", TS))
    op.add_column("networks", sa.Column("last_full_pull_ok_at", TS))
    op.add_column("networks", sa.Column("last_pull_ok_at", TS))
    op.execute("DELETE FROM sync_runs WHERE module = 'hubclientinfo'")
    op.drop_constraint("module", "sync_runs", type_="check")
    op.create_check_constraint("module", "sync_runs", "module IN ('locations', 'tariffs')")
    for column in ("notes", "skipped_older", "unchanged"):
        op.drop_column("sync_runs", column)
