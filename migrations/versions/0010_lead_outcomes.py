"""lead outcomes: each lead's attempts counted by outcome, kept by triggers on attempts

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The outcomes as app.calls.schemas.Outcome has them (copied: a migration must not change when
# the app does); attempts without an outcome count as in_progress.
OUTCOMES = (
    "connected",
    "lead_no_answer",
    "lead_busy",
    "lead_voicemail",
    "rep_no_answer",
    "rep_declined",
    "rep_busy",
    "failed",
    "canceled",
)
COUNTS = (*OUTCOMES, "in_progress")


def is_(outcome: str, row: str) -> str:
    """SQL for "this row's attempt has this outcome", never NULL."""
    if outcome == "in_progress":
        return f"{row}.outcome IS NULL"
    return f"{row}.outcome IS NOT DISTINCT FROM '{outcome}'"


def counted(rows: str) -> str:
    return ",\n           ".join(f"count(*) FILTER (WHERE {is_(c, rows)}) AS {c}" for c in COUNTS)


def added(sign: str, source: str) -> str:
    return ", ".join(f"{c} = o.{c} {sign} {source}.{c}" for c in COUNTS)


# Statement triggers see every attempt a statement inserted (or deleted) at once, so a bulk
# insert costs one upsert per lead, not one per attempt. Rows are upserted in the leads' order
# of arrival: two statements counting the same leads lock their rows in the same order, and
# the rows of a bulk insert are laid out in the order the stats read them in.
COUNT_CHANGED = f"""
CREATE FUNCTION lead_outcomes_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO lead_outcomes AS o (lead_id, received_at, source_id, {", ".join(COUNTS)})
        SELECT c.lead_id, l.received_at, l.source_id,
           {counted("c")}
        FROM changed c JOIN leads l ON l.id = c.lead_id
        GROUP BY c.lead_id, l.received_at, l.source_id
        ORDER BY l.received_at, c.lead_id
        ON CONFLICT (lead_id) DO UPDATE SET {added("+", "excluded")};
    ELSE
        -- A lead's deletion cascades to both tables: its row may be gone already.
        UPDATE lead_outcomes o SET {added("-", "d")}
        FROM (
            SELECT c.lead_id,
           {counted("c")}
            FROM changed c GROUP BY c.lead_id
        ) d
        WHERE o.lead_id = d.lead_id;
    END IF;
    RETURN NULL;
END $$
"""

# An outcome changes once or twice per attempt (set when it ends; machine detection may turn
# connected into lead_voicemail), so a row trigger, fired only then, costs least. An attempt
# never moves to another lead.
MOVED = ", ".join(f"{c} = o.{c} + ({is_(c, 'NEW')})::int - ({is_(c, 'OLD')})::int" for c in COUNTS)
RECOUNT_CHANGED = f"""
CREATE FUNCTION lead_outcomes_recount() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lead_outcomes o SET {MOVED} WHERE o.lead_id = NEW.lead_id;
    RETURN NULL;
END $$
"""

FORGET_ALL = """
CREATE FUNCTION lead_outcomes_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM lead_outcomes;
    RETURN NULL;
END $$
"""

TRIGGERS = (
    "CREATE TRIGGER lead_outcomes_inserted AFTER INSERT ON attempts "
    "REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION lead_outcomes_count()",
    "CREATE TRIGGER lead_outcomes_deleted AFTER DELETE ON attempts "
    "REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION lead_outcomes_count()",
    "CREATE TRIGGER lead_outcomes_recounted AFTER UPDATE OF outcome ON attempts FOR EACH ROW "
    "WHEN (OLD.outcome IS DISTINCT FROM NEW.outcome) EXECUTE FUNCTION lead_outcomes_recount()",
    "CREATE TRIGGER lead_outcomes_truncated AFTER TRUNCATE ON attempts "
    "FOR EACH STATEMENT EXECUTE FUNCTION lead_outcomes_forget()",
)

BACKFILL = f"""
INSERT INTO lead_outcomes (lead_id, received_at, source_id, {", ".join(COUNTS)})
SELECT c.lead_id, l.received_at, l.source_id,
       {counted("c")}
FROM attempts c JOIN leads l ON l.id = c.lead_id
GROUP BY c.lead_id, l.received_at, l.source_id
ORDER BY l.received_at, c.lead_id
"""


def upgrade() -> None:
    op.create_table(
        "lead_outcomes",
        sa.Column("lead_id", sa.UUID(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_id", sa.UUID(), nullable=False),
        *[sa.Column(c, sa.Integer(), server_default="0", nullable=False) for c in COUNTS],
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_lead_outcomes_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lead_id", name=op.f("pk_lead_outcomes")),
        postgresql_with={"fillfactor": 80},
    )
    op.create_index(
        op.f("ix_lead_outcomes_received_at"), "lead_outcomes", ["received_at"], unique=False
    )
    # Triggers first: creating them locks attempts against writers until this migration
    # commits, so the backfill counts every attempt once.
    for statement in (COUNT_CHANGED, RECOUNT_CHANGED, FORGET_ALL, *TRIGGERS, BACKFILL):
        op.execute(statement)


def downgrade() -> None:
    for name in ("inserted", "deleted", "recounted", "truncated"):
        op.execute(f"DROP TRIGGER lead_outcomes_{name} ON attempts")
    for name in ("count", "recount", "forget"):
        op.execute(f"DROP FUNCTION lead_outcomes_{name}()")
    op.drop_index(op.f("ix_lead_outcomes_received_at"), table_name="lead_outcomes")
    op.drop_table("lead_outcomes")
