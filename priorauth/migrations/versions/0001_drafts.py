"""Create the draft review request tables: drafts and their audit trail, draft_events.

Revision ID: 0001_drafts
Revises:
Create Date: 2026-01-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_drafts"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drafts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("member_id", sa.String(20)),
        sa.Column("member_dob", sa.Date()),
        sa.Column("ordering_npi", sa.String(10)),
        sa.Column("ordering_tax_id", sa.String(9)),
        sa.Column("servicing_npi", sa.String(10)),
        sa.Column("facility_name", sa.String(120)),
        sa.Column("setting", sa.String(32)),
        sa.Column("procedure_codes", sa.Text()),
        sa.Column("diagnosis_codes", sa.Text()),
        sa.Column("date_of_service", sa.Date()),
        sa.Column("site_of_care_reason", sa.Text()),
        sa.Column("warnings", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN ('open', 'ready', 'cancelled')", name="ck_drafts_status"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index("ix_drafts_owner_status", "drafts", ["owner", "status"])
    op.create_table(
        "draft_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "draft_id",
            sa.Integer(),
            sa.ForeignKey("drafts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("field", sa.String(64)),
        sa.Column("old_value", sa.Text()),
        sa.Column("new_value", sa.Text()),
        sa.CheckConstraint(
            "action IN ('created', 'field_set', 'field_changed', 'status_changed')",
            name="ck_draft_events_action",
        ),
    )
    op.create_index("ix_draft_events_draft_id", "draft_events", ["draft_id"])


def downgrade() -> None:
    op.drop_index("ix_draft_events_draft_id", table_name="draft_events")
    op.drop_table("draft_events")
    op.drop_index("ix_drafts_owner_status", table_name="drafts")
    op.drop_table("drafts")
