"""stats indexes: leads by received_at

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 04:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The speed-to-lead figures select leads by received_at.
    op.create_index("ix_leads_received_at", "leads", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_leads_received_at", table_name="leads")
