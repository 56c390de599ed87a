"""source abuse settings: allowed countries, CORS origins, honeypot, secret rotation

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sources", sa.Column("allowed_countries", postgresql.ARRAY(sa.String(length=2))))
    # Existing sources call only their own country from now on, as new ones do by default;
    # NULL (any country) stays for rows written without the column.
    op.execute("UPDATE sources SET allowed_countries = '{}'")
    op.add_column(
        "sources",
        sa.Column("cors_origins", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
    )
    op.add_column("sources", sa.Column("honeypot_field", sa.Text()))
    op.add_column("sources", sa.Column("previous_secret", sa.Text()))
    op.add_column("sources", sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    for column in (
        "previous_secret_expires_at",
        "previous_secret",
        "honeypot_field",
        "cors_origins",
        "allowed_countries",
    ):
        op.drop_column("sources", column)
