"""SQLAlchemy models of draft review requests and their audit trail, and what a draft lacks."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import relationship

from priorauth.db import Base
from priorauth.drafts.validators import FIELDS

STATUSES = ("open", "ready", "cancelled")
ACTIONS = ("created", "field_set", "field_changed", "status_changed")


class JSONText(TypeDecorator):
    """A JSON value stored as text, so that SQLite and PostgreSQL hold it the same way."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else json.dumps(value, sort_keys=True)

    def process_result_value(self, value, dialect):
        return None if value is None else json.loads(value)


class UTCDateTime(TypeDecorator):
    """A timestamp written as UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Draft(Base):
    """A prior-authorization review request being filled in by its owner."""

    __tablename__ = "drafts"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="ck_drafts_status"),
        Index("ix_drafts_owner_status", "owner", "status"),
    )

    id = Column(Integer, primary_key=True)
    reference = Column(String(16), nullable=False, unique=True)
    owner = Column(String(200), nullable=False)
    status = Column(String(16), nullable=False, default="open")
    member_id = Column(String(20))
    member_dob = Column(Date)
    ordering_npi = Column(String(10))
    ordering_tax_id = Column(String(9))
    servicing_npi = Column(String(10))
    facility_name = Column(String(120))
    setting = Column(String(32))
    procedure_codes = Column(JSONText)
    diagnosis_codes = Column(JSONText)
    date_of_service = Column(Date)
    site_of_care_reason = Column(Text)
    warnings = Column(JSONText, nullable=False, default=dict)
    created_at = Column(UTCDateTime, nullable=False)
    updated_at = Column(UTCDateTime, nullable=False)
    version = Column(Integer, nullable=False)

    events = relationship(
        "DraftEvent",
        back_populates="draft",
        order_by="DraftEvent.id",
        cascade="all, delete-orphan",
    )

    # SQLAlchemy adds "AND version = :old" to every UPDATE and raises StaleDataError on a miss.
    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:  # no field values: they may hold PHI
        return f"<Draft {self.reference} {self.status} v{self.version}>"


class DraftEvent(Base):
    """One entry of a draft's audit trail; values of identifying fields are stored masked."""

    __tablename__ = "draft_events"
    __table_args__ = (CheckConstraint(_in("action", ACTIONS), name="ck_draft_events_action"),)

    id = Column(Integer, primary_key=True)
    draft_id = Column(Integer, ForeignKey("drafts.id", ondelete="CASCADE"), nullable=False, index=True)
    at = Column(UTCDateTime, nullable=False)
    actor = Column(String(200), nullable=False)
    action = Column(String(32), nullable=False)
    field = Column(String(64))
    old_value = Column(Text)
    new_value = Column(Text)

    draft = relationship("Draft", back_populates="events")

    def __repr__(self) -> str:
        return f"<DraftEvent {self.action} {self.field or '-'} at {self.at}>"


def required_fields(draft: Draft) -> tuple[str, ...]:
    """The fields this draft needs; the site-of-care reason only for an outpatient hospital."""
    if draft.setting == "outpatient_hospital":
        return FIELDS
    return tuple(name for name in FIELDS if name != "site_of_care_reason")


def missing_fields(draft: Draft) -> list[str]:
    """The fields still needed, in the order the form asks for them."""
    return [name for name in required_fields(draft) if not has_value(draft, name)]


def has_value(draft: Draft, name: str) -> bool:
    """Whether a field of the draft is saved (an empty text or list is not)."""
    return getattr(draft, name) not in (None, "", [])


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
