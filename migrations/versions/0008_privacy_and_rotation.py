"""privacy and webhook secret rotation: lead erasure and payload retention marks, an
endpoint's previous secret

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("fields_purged_at", sa.DateTime(timezone=True)))
    op.add_column("leads", sa.Column("erased_at", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_leads_received_at_unpurged",
        "leads",
        ["received_at"],
        postgresql_where=sa.text("fields_purged_at IS NULL"),
    )
    op.add_column("webhook_endpoints", sa.Column("previous_secret", sa.Text()))
    op.add_column(
        "webhook_endpoints",
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_column("webhook_endpoints", "previous_secret_expires_at")
    op.drop_column("webhook_endpoints", "previous_secret")
    op.drop_index("ix_leads_received_at_unpurged", table_name="leads")
    op.drop_column("leads", "erased_at")
    op.drop_column("leads", "fields_purged_at")
