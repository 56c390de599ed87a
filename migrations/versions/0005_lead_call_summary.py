"""lead call summary: first rep answer and touches on leads, backfilled; stats indexes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The summary as app/stats/summary.py defines it, from the attempts (copied: a migration
# must not change when the app does). connected_at meant "the lead's leg answered" before;
# from here on it is the first lead_answered_at among the connected attempts.
BACKFILL = """
UPDATE leads
SET first_call_at = s.first_call_at,
    first_rep_answered_at = s.first_rep_answered_at,
    connected_at = s.connected_at,
    touches = s.touches
FROM (
    SELECT lead_id,
           min(create_sent_at) AS first_call_at,
           min(rep_answered_at) AS first_rep_answered_at,
           min(lead_answered_at) FILTER (WHERE outcome = 'connected') AS connected_at,
           count(*) AS touches
    FROM attempts
    GROUP BY lead_id
) s
WHERE leads.id = s.lead_id
"""


def upgrade() -> None:
    op.add_column(
        "leads", sa.Column("first_rep_answered_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("leads", sa.Column("touches", sa.Integer(), server_default="0", nullable=False))
    # Leads without attempts keep first_call_at NULL and touches 0; their connected_at was
    # only ever set through an attempt, so it is NULL already.
    op.execute(BACKFILL)
    # The speed-to-lead figures of a window read this index and nothing else from leads.
    op.create_index(
        "ix_leads_received_at_summary",
        "leads",
        ["received_at"],
        unique=False,
        postgresql_include=[
            "id",
            "source_id",
            "first_call_at",
            "first_rep_answered_at",
            "connected_at",
            "touches",
        ],
    )
    # attempts.webhook_received_at is the lead's received_at: a window's outcomes by range.
    op.create_index(
        "ix_attempts_webhook_received_at",
        "attempts",
        ["webhook_received_at"],
        unique=False,
        postgresql_include=["outcome", "lead_id"],
    )
    # A rep's attempts of a window, with every column the rep figures read, and the leads a
    # rep worked (speed to lead with a rep filter).
    op.create_index(
        "ix_attempts_rep_id_created_at",
        "attempts",
        ["rep_id", "created_at"],
        unique=False,
        postgresql_include=[
            "outcome",
            "talk_seconds",
            "create_sent_at",
            "rep_ringing_at",
            "rep_answered_at",
            "rep_accepted_at",
            "lead_id",
            "webhook_received_at",
        ],
    )
    # The outcomes of given leads (speed to lead with a rep filter).
    op.create_index(
        "ix_attempts_lead_id_outcome",
        "attempts",
        ["lead_id"],
        unique=False,
        postgresql_include=["outcome", "webhook_received_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_attempts_lead_id_outcome", table_name="attempts")
    op.drop_index("ix_attempts_rep_id_created_at", table_name="attempts")
    op.drop_index("ix_attempts_webhook_received_at", table_name="attempts")
    op.drop_index("ix_leads_received_at_summary", table_name="leads")
    op.drop_column("leads", "touches")
    op.drop_column("leads", "first_rep_answered_at")
