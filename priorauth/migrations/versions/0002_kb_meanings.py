"""Knowledge-base columns the code asks the data by: short source titles, plan scopes, a line of business's
broader one, the rehabilitation schedule's program, plan and date readings, and topic facts' keys.

Additive only. The knowledge-base tables are made by the loader where they do not exist yet (with these
columns); an older database's tables get the columns here, and the next load fills them.

Revision ID: 0002_kb_meanings
Revises: 0001_drafts
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_kb_meanings"
down_revision = "0001_drafts"
branch_labels = None
depends_on = None

COLUMNS = {
    "kb_source": [sa.Column("short_title", sa.String(120))],
    "kb_plan": [sa.Column("short_name", sa.String(100)), sa.Column("covers", sa.JSON())],
    "kb_line_of_business": [sa.Column("part_of", sa.String(40))],
    "kb_rehab_schedule": [
        sa.Column("program_id", sa.String(64)),
        sa.Column("plan", sa.String(64)),
        sa.Column("possible_starts", sa.JSON()),
        sa.Column("targeted", sa.String(60)),
    ],
    "kb_topic_fact": [sa.Column("key", sa.String(64))],
}


def _missing(table: str) -> list[sa.Column]:
    inspector = sa.inspect(op.get_bind())
    if table not in inspector.get_table_names():
        return []
    have = {c["name"] for c in inspector.get_columns(table)}
    return [c for c in COLUMNS[table] if c.name not in have]


def upgrade() -> None:
    for table in COLUMNS:
        missing = _missing(table)
        if missing:
            with op.batch_alter_table(table) as batch:
                for column in missing:
                    batch.add_column(column.copy())


def downgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, columns in COLUMNS.items():
        if table not in inspector.get_table_names():
            continue
        have = {c["name"] for c in inspector.get_columns(table)}
        with op.batch_alter_table(table) as batch:
            for column in columns:
                if column.name in have:
                    batch.drop_column(column.name)
