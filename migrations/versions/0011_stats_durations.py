"""stats durations: the seconds the stats sort, stored (generated); leads indexed by bucket

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 09:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The percentiles sort these values; computing them (an interval, then its epoch) cost a fifth
# of a month's figures. Stored generated columns are computed by PostgreSQL whenever the row is
# written, with the very expressions the stats used, so every figure keeps its last bit. Adding
# them rewrites each table once, under an exclusive lock (seconds per million rows).
LEAD_SECONDS = {
    "first_call_seconds": "date_part('epoch', first_call_at - received_at)",
    "rep_answered_seconds": "date_part('epoch', first_rep_answered_at - received_at)",
    "connected_seconds": "date_part('epoch', connected_at - received_at)",
}
ANSWER_SECONDS = "date_part('epoch', rep_answered_at - coalesce(rep_ringing_at, create_sent_at))"
# The UTC day and hour of receipt, as app/stats/service.py writes them: leads come from the
# index in bucket order, so the percentiles by day or hour need no sort of the leads first.
DAY = "date_bin('1 day'::interval, received_at, '2000-01-01 00:00:00+00'::timestamptz)"
HOUR = "date_bin('1 hour'::interval, received_at, '2000-01-01 00:00:00+00'::timestamptz)"


def upgrade() -> None:
    for name, expression in LEAD_SECONDS.items():
        op.add_column("leads", sa.Column(name, sa.Float(), sa.Computed(expression, persisted=True)))
    op.add_column(
        "attempts",
        sa.Column("answer_seconds", sa.Float(), sa.Computed(ANSWER_SECONDS, persisted=True)),
    )
    # A window of leads by day and hour of receipt, with what speed to lead reads: the seconds
    # instead of the timestamps (connected_at is set exactly when connected_seconds is).
    op.drop_index("ix_leads_received_at_summary", table_name="leads")
    op.create_index(
        "ix_leads_received_buckets",
        "leads",
        [sa.text(DAY), sa.text(HOUR), "received_at"],
        postgresql_include=["id", "source_id", "touches", *LEAD_SECONDS],
    )
    # A rep's attempts of a window with only what the rep figures read (a month of all reps is
    # every attempt: a third fewer pages to read), and apart, the leads a rep worked in a
    # window (speed to lead with a rep filter), now by range.
    op.drop_index("ix_attempts_rep_id_created_at", table_name="attempts")
    op.create_index(
        "ix_attempts_rep_id_created_at",
        "attempts",
        ["rep_id", "created_at"],
        postgresql_include=[
            "outcome",
            "talk_seconds",
            "rep_answered_at",
            "rep_accepted_at",
            "answer_seconds",
        ],
    )
    op.create_index(
        "ix_attempts_rep_id_webhook_received_at",
        "attempts",
        ["rep_id", "webhook_received_at"],
        postgresql_include=["lead_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_attempts_rep_id_webhook_received_at", table_name="attempts")
    op.drop_index("ix_attempts_rep_id_created_at", table_name="attempts")
    op.drop_index("ix_leads_received_buckets", table_name="leads")
    op.drop_column("attempts", "answer_seconds")
    for name in LEAD_SECONDS:
        op.drop_column("leads", name)
    op.create_index(
        "ix_attempts_rep_id_created_at",
        "attempts",
        ["rep_id", "created_at"],
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
    op.create_index(
        "ix_leads_received_at_summary",
        "leads",
        ["received_at"],
        postgresql_include=[
            "id",
            "source_id",
            "first_call_at",
            "first_rep_answered_at",
            "connected_at",
            "touches",
        ],
    )
