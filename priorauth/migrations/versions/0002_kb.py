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


REQUIRED = True


def _key(length: int = 64, name: str = "id") -> sa.Column:
    return sa.Column(name, sa.String(length), primary_key=True)


def _serial() -> sa.Column:
    return sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True)


def _str(name: str, length: int, required: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length), nullable=not required)


def _of(name: str, type_: sa.types.TypeEngine, required: bool = False) -> sa.Column:
    return sa.Column(name, type_, nullable=not required)


def _ref(name: str, table: str, length: int = 64, primary_key: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length), sa.ForeignKey(f"{table}.id"), nullable=False, primary_key=primary_key)


def _drop_kb_tables() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for table in KB_TABLES:
        if table in existing:
            op.drop_table(table)


# One table a statement, its columns in the models' order (priorauth/kb/models.py).
# fmt: off
def upgrade() -> None:
    _drop_kb_tables()  # made by the old create_all path, if any (see the docstring)
    op.create_table("kb_source", _key(8), _str("file", 200, REQUIRED), _str("title", 300, REQUIRED),
                    _str("short_title", 120), _str("publisher", 200), _of("published", sa.Date()), _str("plan", 64))
    op.create_table("kb_plan", _key(), _str("name", 200, REQUIRED), _str("short_name", 100), _str("region", 8),
                    _of("covers", sa.JSON()))
    op.create_table("kb_program", _key(), _str("name", 200, REQUIRED),
                    sa.Column("parent_id", sa.String(64), sa.ForeignKey("kb_program.id")),
                    _str("inpatient", 20, REQUIRED), _of("effective_from", sa.Date()),
                    _of("requests_accepted_from", sa.Date()), _of("examples", sa.JSON()))
    op.create_table("kb_procedure", _key(), _str("name", 200, REQUIRED), _ref("program_id", "kb_program"))
    op.create_index("ix_kb_procedure_program_id", "kb_procedure", ["program_id"])
    op.create_table("kb_procedure_reading", _ref("procedure_id", "kb_procedure", primary_key=True),
                    _str("category", 200, REQUIRED))
    op.create_table("kb_procedure_code", _key(8, "code"), _str("system", 8, REQUIRED),
                    _ref("procedure_id", "kb_procedure"), _str("provenance", 20, REQUIRED))
    op.create_index("ix_kb_procedure_code_procedure_id", "kb_procedure_code", ["procedure_id"])
    op.create_table("kb_diagnosis", _key(10, "code"), _str("name", 200, REQUIRED))
    op.create_table("kb_setting", _key(40), _str("name", 100, REQUIRED), _str("pos", 4),
                    _of("requestable", sa.Boolean(), REQUIRED))
    op.create_table("kb_presentation", _key(40), _str("name", 200, REQUIRED))
    op.create_table("kb_ambiguous_term", _key(100, "term"), _key(20, "kind"),
                    _of("candidates", sa.JSON(), REQUIRED))
    op.create_table("kb_line_of_business", _key(40), _str("name", 100, REQUIRED), _of("may_mean", sa.JSON()),
                    _str("part_of", 40))
    op.create_table("kb_lob_scope", _key(40), _ref("source_id", "kb_source", 8), _str("plan", 64, REQUIRED),
                    _of("programs", sa.JSON(), REQUIRED), _of("included", sa.JSON()), _of("excluded", sa.JSON()),
                    _of("offered", sa.JSON()), _of("note", sa.Text()))
    op.create_table("kb_state", _key(2), _str("name", 60, REQUIRED))
    op.create_table("kb_rule", _key(), _str("kind", 20, REQUIRED),
                    *(_of(name, sa.JSON()) for name in ("programs", "settings", "presentations", "codes")),
                    _of("diagnoses", sa.JSON()), _of("conditions", sa.JSON()),
                    _str("plan", 64, REQUIRED), _of("effective_from", sa.Date()),
                    _of("requests_accepted_from", sa.Date()), _of("text", sa.Text(), REQUIRED))
    op.create_index("ix_kb_rule_kind", "kb_rule", ["kind"])
    op.create_table("kb_rehab_schedule", _key(), _str("program_id", 64), _str("plan", 64),
                    _str("line_of_business", 40, REQUIRED), _of("states", sa.JSON()),
                    _of("except_states", sa.JSON()), _of("not_required_until", sa.Date()), _of("starts", sa.Date()),
                    _of("possible_starts", sa.JSON()), _str("targeted", 60), _of("text", sa.Text(), REQUIRED))
    op.create_table("kb_contact", _key(), _str("kind", 20, REQUIRED), _str("name", 200, REQUIRED),
                    _str("value", 200, REQUIRED), _str("availability", 200), _str("days", 60), _str("hours", 60),
                    _str("time_zone", 10), _str("time_zone_note", 200), _str("plan", 64, REQUIRED),
                    _str("region", 8), _of("programs", sa.JSON(), REQUIRED), _of("note", sa.Text()))
    op.create_table("kb_validity", _key(), _of("programs", sa.JSON(), REQUIRED), _of("days", sa.Integer(), REQUIRED),
                    _str("unit", 20, REQUIRED), _of("text", sa.Text(), REQUIRED))
    op.create_table("kb_topic", _key(), _str("title", 300, REQUIRED), _str("plan", 64, REQUIRED),
                    _of("programs", sa.JSON()))
    op.create_table("kb_topic_fact", _serial(), _ref("topic_id", "kb_topic"), _of("position", sa.Integer(), REQUIRED),
                    _str("key", 64), _of("text", sa.Text(), REQUIRED))
    op.create_index("ix_kb_topic_fact_topic_id", "kb_topic_fact", ["topic_id"])
    op.create_table("kb_alias", _serial(), _str("term", 200, REQUIRED), _str("kind", 20, REQUIRED),
                    _str("target_id", 64, REQUIRED))
    op.create_index("ix_kb_alias_term", "kb_alias", ["term"])
    op.create_table("kb_citation", _serial(), _str("record_type", 30, REQUIRED), _str("record_id", 80, REQUIRED),
                    _of("position", sa.Integer(), REQUIRED), _ref("source_id", "kb_source", 8),
                    _of("quote", sa.Text(), REQUIRED))
    op.create_index("ix_kb_citation_record", "kb_citation", ["record_type", "record_id"])
    op.create_table("kb_meta", _key(40, "key"), _str("value", 200, REQUIRED))
# fmt: on


def downgrade() -> None:
    _drop_kb_tables()
