"""free reps index: a round's claim reads the team's free reps in routing order

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 11:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FREE = sa.text("availability = 'available' AND call_state = 'idle'")


def upgrade() -> None:
    # Every first call claims the team's longest idle free rep (or, round robin, the one
    # offered longest ago); without these the claim sorts the whole team under a row lock.
    op.create_index(
        "ix_reps_free_longest_idle",
        "reps",
        ["team", "idle_since", "id"],
        postgresql_where=FREE,
    )
    op.create_index(
        "ix_reps_free_round_robin",
        "reps",
        ["team", sa.text("last_offered_at NULLS FIRST"), "id"],
        postgresql_where=FREE,
    )


def downgrade() -> None:
    op.drop_index("ix_reps_free_round_robin", table_name="reps")
    op.drop_index("ix_reps_free_longest_idle", table_name="reps")
