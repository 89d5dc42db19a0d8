"""SQLAlchemy tables of the knowledge base. List-valued columns hold JSON; every record's citations
live in one `kb_citation` table keyed by (record type, record id)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Date, ForeignKey, Index, Integer, String, Text

from priorauth.db import Base

CAVEATS_TOPIC = "caveats"  # the topic that holds the review decision's caveats (data/authorization/caveats.yml)


class Source(Base):
    __tablename__ = "kb_source"
    id = Column(String(8), primary_key=True)
    file = Column(String(200), nullable=False)
    title = Column(String(300), nullable=False)
    short_title = Column(String(120))  # the name on an answer's Source line
    publisher = Column(String(200))
    published = Column(Date)
    plan = Column(String(64))


class Plan(Base):
    __tablename__ = "kb_plan"
    id = Column(String(64), primary_key=True)
    name = Column(String(200), nullable=False)
    short_name = Column(String(100))
    region = Column(String(8))
    # Plans a scope over plans covers (["all"]: any plan); empty for a plan with notices of its own.
    covers = Column(JSON, default=list)


class Program(Base):
    __tablename__ = "kb_program"
    id = Column(String(64), primary_key=True)
    name = Column(String(200), nullable=False)
    parent_id = Column(String(64), ForeignKey("kb_program.id"))
    inpatient = Column(String(20), nullable=False)
    effective_from = Column(Date)
    requests_accepted_from = Column(Date)
    examples = Column(JSON, default=list)


class Procedure(Base):
    __tablename__ = "kb_procedure"
    id = Column(String(64), primary_key=True)
    name = Column(String(200), nullable=False)
    program_id = Column(String(64), ForeignKey("kb_program.id"), nullable=False, index=True)


class ProcedureReading(Base):
    """A procedure the sources name only by its category ("Advanced diagnostic imaging", not "MRI"): it is read
    as a member of its program by the category's usual meaning, and every answer about it says so."""

    __tablename__ = "kb_procedure_reading"
    procedure_id = Column(String(64), ForeignKey("kb_procedure.id"), primary_key=True)
    category = Column(String(200), nullable=False)


class ProcedureCode(Base):
    __tablename__ = "kb_procedure_code"
    code = Column(String(8), primary_key=True)
    system = Column(String(8), nullable=False)  # CPT | HCPCS
    procedure_id = Column(String(64), ForeignKey("kb_procedure.id"), nullable=False, index=True)
    provenance = Column(String(20), nullable=False)  # source | named_procedure


class Diagnosis(Base):
    __tablename__ = "kb_diagnosis"
    code = Column(String(10), primary_key=True)
    name = Column(String(200), nullable=False)


class Setting(Base):
    __tablename__ = "kb_setting"
    id = Column(String(40), primary_key=True)
    name = Column(String(100), nullable=False)
    pos = Column(String(4))
    requestable = Column(Boolean, nullable=False, default=True)


class Presentation(Base):
    """How a patient presented (emergency / scheduled): it can decide an answer whatever the setting."""

    __tablename__ = "kb_presentation"
    id = Column(String(40), primary_key=True)
    name = Column(String(200), nullable=False)


class AmbiguousTerm(Base):
    """A word that names several records ("Blue Cross", "hip"): asked about, never resolved to one."""

    __tablename__ = "kb_ambiguous_term"
    term = Column(String(100), primary_key=True)
    kind = Column(String(20), primary_key=True)
    candidates = Column(JSON, nullable=False)


class LineOfBusiness(Base):
    __tablename__ = "kb_line_of_business"
    id = Column(String(40), primary_key=True)
    name = Column(String(100), nullable=False)
    may_mean = Column(JSON, default=list)
    part_of = Column(String(40))  # a broader line of business that includes this one


class LineOfBusinessScope(Base):
    __tablename__ = "kb_lob_scope"
    id = Column(String(40), primary_key=True)
    source_id = Column(String(8), ForeignKey("kb_source.id"), nullable=False)
    plan = Column(String(64), nullable=False)
    programs = Column(JSON, nullable=False)
    included = Column(JSON, default=list)
    excluded = Column(JSON, default=list)
    offered = Column(JSON, default=list)
    note = Column(Text)


class State(Base):
    __tablename__ = "kb_state"
    id = Column(String(2), primary_key=True)
    name = Column(String(60), nullable=False)


class Rule(Base):
    __tablename__ = "kb_rule"
    id = Column(String(64), primary_key=True)
    kind = Column(String(20), nullable=False, index=True)
    programs = Column(JSON, default=list)
    settings = Column(JSON, default=list)
    presentations = Column(JSON, default=list)
    codes = Column(JSON, default=list)
    diagnoses = Column(JSON, default=list)
    conditions = Column(JSON, default=list)
    plan = Column(String(64), nullable=False)
    effective_from = Column(Date)
    requests_accepted_from = Column(Date)
    text = Column(Text, nullable=False)


class RehabSchedule(Base):
    __tablename__ = "kb_rehab_schedule"
    id = Column(String(64), primary_key=True)
    program_id = Column(String(64))
    plan = Column(String(64))
    line_of_business = Column(String(40), nullable=False)
    states = Column(JSON, default=list)
    except_states = Column(JSON, default=list)
    not_required_until = Column(Date)
    starts = Column(Date)
    possible_starts = Column(JSON, default=list)  # ISO dates: the readings of a date given without a year
    targeted = Column(String(60))  # when a relaunch was only aimed at ("first quarter of 2020"): not a start
    text = Column(Text, nullable=False)


class Contact(Base):
    __tablename__ = "kb_contact"
    id = Column(String(64), primary_key=True)
    kind = Column(String(20), nullable=False)
    name = Column(String(200), nullable=False)
    value = Column(String(200), nullable=False)
    availability = Column(String(200))
    days = Column(String(60))
    hours = Column(String(60))
    time_zone = Column(String(10))
    time_zone_note = Column(String(200))
    plan = Column(String(64), nullable=False)
    region = Column(String(8))
    programs = Column(JSON, nullable=False)
    note = Column(Text)


class Validity(Base):
    __tablename__ = "kb_validity"
    id = Column(String(64), primary_key=True)
    programs = Column(JSON, nullable=False)
    days = Column(Integer, nullable=False)
    unit = Column(String(20), nullable=False)
    text = Column(Text, nullable=False)


class Topic(Base):
    __tablename__ = "kb_topic"
    id = Column(String(64), primary_key=True)
    title = Column(String(300), nullable=False)
    plan = Column(String(64), nullable=False)
    programs = Column(JSON, default=list)


class TopicFact(Base):
    __tablename__ = "kb_topic_fact"
    id = Column(Integer, primary_key=True, autoincrement=True)
    topic_id = Column(String(64), ForeignKey("kb_topic.id"), nullable=False, index=True)
    position = Column(Integer, nullable=False)
    key = Column(String(64))  # what the fact says, for code that adds it to another answer
    text = Column(Text, nullable=False)


class Alias(Base):
    """Every name, synonym and abbreviation, normalized, pointing at its canonical record."""

    __tablename__ = "kb_alias"
    id = Column(Integer, primary_key=True, autoincrement=True)
    term = Column(String(200), nullable=False)
    kind = Column(
        String(20), nullable=False
    )  # procedure | program | setting | presentation | line_of_business | plan | state
    target_id = Column(String(64), nullable=False)
    __table_args__ = (Index("ix_kb_alias_term", "term"),)


class Citation(Base):
    __tablename__ = "kb_citation"
    id = Column(Integer, primary_key=True, autoincrement=True)
    record_type = Column(String(30), nullable=False)
    record_id = Column(String(80), nullable=False)
    position = Column(Integer, nullable=False, default=0)
    source_id = Column(String(8), ForeignKey("kb_source.id"), nullable=False)
    quote = Column(Text, nullable=False)
    __table_args__ = (Index("ix_kb_citation_record", "record_type", "record_id"),)


CONTENT_HASH_KEY = "content_sha256"  # kb_meta's row of the loaded data's content hash (priorauth.kb.loader)


class Meta(Base):
    __tablename__ = "kb_meta"
    key = Column(String(40), primary_key=True)
    value = Column(String(200), nullable=False)


KB_TABLES = [
    Citation,
    Alias,
    TopicFact,
    Topic,
    Validity,
    Contact,
    RehabSchedule,
    Rule,
    State,
    LineOfBusinessScope,
    LineOfBusiness,
    AmbiguousTerm,
    Presentation,
    Setting,
    Diagnosis,
    ProcedureCode,
    ProcedureReading,
    Procedure,
    Program,
    Plan,
    Source,
    Meta,
]
