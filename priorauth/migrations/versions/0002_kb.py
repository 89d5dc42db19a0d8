"""Create the knowledge base's tables (kb_*), which the loader fills from data/authorization/.

Before this revision the runtime made these tables with SQLAlchemy's create_all. Such tables hold only
data reloaded from the YAML (their content hash in kb_meta goes with them): they are dropped and made
again here, so that their schema is exactly this revision's, and the next `priorauth load` (or the
action server's first use of the database) fills them.

Revision ID: 0002_kb
Revises: 0001_drafts
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_kb"
down_revision = "0001_drafts"
branch_labels = None
depends_on = None

# Children before parents, for dropping.
KB_TABLES = (
    "kb_procedure_reading",
    "kb_procedure_code",
    "kb_topic_fact",
    "kb_procedure",
    "kb_lob_scope",
    "kb_citation",
    "kb_validity",
    "kb_topic",
    "kb_state",
    "kb_source",
    "kb_setting",
    "kb_rule",
    "kb_rehab_schedule",
    "kb_program",
    "kb_presentation",
    "kb_plan",
    "kb_meta",
    "kb_line_of_business",
    "kb_diagnosis",
    "kb_contact",
    "kb_ambiguous_term",
    "kb_alias",
)


def _drop_kb_tables() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for table in KB_TABLES:
        if table in existing:
            op.drop_table(table)


def upgrade() -> None:
    _drop_kb_tables()  # made by the old create_all path, if any (see the docstring)
    op.create_table(
        "kb_alias",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("kb_alias", schema=None) as batch_op:
        batch_op.create_index("ix_kb_alias_term", ["term"], unique=False)

    op.create_table(
        "kb_ambiguous_term",
        sa.Column("term", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("term", "kind"),
    )
    op.create_table(
        "kb_contact",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("availability", sa.String(length=200), nullable=True),
        sa.Column("days", sa.String(length=60), nullable=True),
        sa.Column("hours", sa.String(length=60), nullable=True),
        sa.Column("time_zone", sa.String(length=10), nullable=True),
        sa.Column("time_zone_note", sa.String(length=200), nullable=True),
        sa.Column("plan", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=True),
        sa.Column("programs", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kb_diagnosis",
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "kb_line_of_business",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("may_mean", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kb_meta",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "kb_plan",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kb_presentation",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kb_program",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("inpatient", sa.String(length=20), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=True),
        sa.Column("requests_accepted_from", sa.Date(), nullable=True),
        sa.Column("examples", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["kb_program.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kb_rehab_schedule",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("line_of_business", sa.String(length=40), nullable=False),
        sa.Column("states", sa.JSON(), nullable=True),
        sa.Column("except_states", sa.JSON(), nullable=True),
        sa.Column("not_required_until", sa.Date(), nullable=True),
        sa.Column("starts", sa.Date(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kb_rule",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("programs", sa.JSON(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=True),
        sa.Column("presentations", sa.JSON(), nullable=True),
        sa.Column("codes", sa.JSON(), nullable=True),
        sa.Column("diagnoses", sa.JSON(), nullable=True),
        sa.Column("conditions", sa.JSON(), nullable=True),
        sa.Column("plan", sa.String(length=64), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=True),
        sa.Column("requests_accepted_from", sa.Date(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("kb_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_rule_kind"), ["kind"], unique=False)

    op.create_table(
        "kb_setting",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("pos", sa.String(length=4), nullable=True),
        sa.Column("requestable", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kb_source",
        sa.Column("id", sa.String(length=8), nullable=False),
        sa.Column("file", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("publisher", sa.String(length=200), nullable=True),
        sa.Column("published", sa.Date(), nullable=True),
        sa.Column("plan", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kb_state",
        sa.Column("id", sa.String(length=2), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kb_topic",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("plan", sa.String(length=64), nullable=False),
        sa.Column("programs", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kb_validity",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("programs", sa.JSON(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kb_citation",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_type", sa.String(length=30), nullable=False),
        sa.Column("record_id", sa.String(length=80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=8), nullable=False),
        sa.Column("quote", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["kb_source.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("kb_citation", schema=None) as batch_op:
        batch_op.create_index("ix_kb_citation_record", ["record_type", "record_id"], unique=False)

    op.create_table(
        "kb_lob_scope",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("source_id", sa.String(length=8), nullable=False),
        sa.Column("plan", sa.String(length=64), nullable=False),
        sa.Column("programs", sa.JSON(), nullable=False),
        sa.Column("included", sa.JSON(), nullable=True),
        sa.Column("excluded", sa.JSON(), nullable=True),
        sa.Column("offered", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["kb_source.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kb_procedure",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["kb_program.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("kb_procedure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_procedure_program_id"), ["program_id"], unique=False)

    op.create_table(
        "kb_topic_fact",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("topic_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["kb_topic.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("kb_topic_fact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_topic_fact_topic_id"), ["topic_id"], unique=False)

    op.create_table(
        "kb_procedure_code",
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("system", sa.String(length=8), nullable=False),
        sa.Column("procedure_id", sa.String(length=64), nullable=False),
        sa.Column("provenance", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["procedure_id"],
            ["kb_procedure.id"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    with op.batch_alter_table("kb_procedure_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_procedure_code_procedure_id"), ["procedure_id"], unique=False)

    op.create_table(
        "kb_procedure_reading",
        sa.Column("procedure_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["procedure_id"],
            ["kb_procedure.id"],
        ),
        sa.PrimaryKeyConstraint("procedure_id"),
    )


def downgrade() -> None:
    _drop_kb_tables()
