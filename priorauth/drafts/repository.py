"""Data access for draft requests: open, resume, change, cancel; each answer saved at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from priorauth.config import Settings
from priorauth.drafts import models
from priorauth.drafts.models import Draft, DraftEvent, utc_now
from priorauth.drafts.references import new_reference, normalize_reference
from priorauth.drafts.validators import (
    FIELDS,
    KnownCode,
    Validated,
    ValidationContext,
    validate_fields,
)
from priorauth.logfilter import mask_member_id


class DraftError(Exception):
    """Base of the errors the repository raises about a draft (never carrying field values)."""


class DraftNotFound(DraftError, LookupError):
    def __init__(self, reference: str) -> None:
        super().__init__(f"no draft request {reference}")
        self.reference = reference


class DraftAccessDenied(DraftError, PermissionError):
    def __init__(self, reference: str) -> None:
        super().__init__(f"draft request {reference} belongs to someone else")
        self.reference = reference


class DraftClosed(DraftError):
    def __init__(self, reference: str, status: str) -> None:
        super().__init__(f"draft request {reference} is {status} and cannot change")
        self.reference = reference
        self.status = status


class ConcurrentUpdate(DraftError):
    def __init__(self, reference: str, expected: int | None, actual: int | None) -> None:
        super().__init__(
            f"draft request {reference} changed meanwhile (expected version {expected}, now {actual}); read it again"
        )
        self.reference = reference
        self.expected = expected
        self.actual = actual


def mask_dob(value: date | None) -> str | None:
    """Keep only the year, for the owner to recognize: "**/**/1960"."""
    return None if value is None else f"**/**/{value.year}"


def audit_value(field_name: str, value: Any) -> str | None:
    """The text an audit entry stores for a value: member id, birth date and free text masked."""
    if value is None:
        return None
    if field_name == "member_id":
        return mask_member_id(value)
    if field_name == "member_dob":
        return "**/**/****"
    if field_name == "site_of_care_reason":
        return f"[{len(value)} characters]"
    return display_value(value)


def display_value(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(value)
    return value


def summary_of(draft: Draft) -> dict[str, Any]:
    """A plain, JSON-ready view of a draft with the member id and birth date masked."""
    fields = {name: display_value(getattr(draft, name)) for name in FIELDS}
    fields["member_id"] = mask_member_id(draft.member_id)
    fields["member_dob"] = mask_dob(draft.member_dob)
    fields["procedure_codes"] = list(draft.procedure_codes or [])
    fields["diagnosis_codes"] = list(draft.diagnosis_codes or [])
    return {
        "reference": draft.reference,
        "status": draft.status,
        "version": draft.version,
        "fields": fields,
        "missing": models.missing_fields(draft),
        "warnings": [w for name in FIELDS for w in (draft.warnings or {}).get(name, [])],
        "created_at": draft.created_at.isoformat(),
        "updated_at": draft.updated_at.isoformat(),
    }


class DraftRepository:
    """Drafts of one database; every method runs and commits its own transaction."""

    def __init__(
        self,
        session_factory: sessionmaker,
        clock: Callable[[], datetime] = utc_now,
        *,
        known_code: KnownCode | None = None,
        earliest_service_date: date | None = None,
        zone: tzinfo | None = None,
    ) -> None:
        self._sessions = session_factory
        self._clock = clock
        self._known_code = known_code
        self._earliest = earliest_service_date
        # Where the users are (PRIORAUTH_TIME_ZONE): "today" for a date of service is their day, not UTC's.
        self._zone = zone or Settings.from_env().zone

    def today(self) -> date:
        """Today where the users are (a UTC date would run ahead in a US evening)."""
        return self._clock().astimezone(self._zone).date()

    def validation_context(self) -> ValidationContext:
        return ValidationContext(self.today(), self._known_code, self._earliest)

    def open(self, owner: str, initial: Mapping[str, Any] | None = None) -> Draft:
        """Start a draft for ``owner`` with the given raw field values (all valid or none kept)."""
        if not owner:
            raise ValueError("a draft needs an owner (the conversation's sender id or agent:<id>)")
        validated = self._validate(initial or {})
        with self._sessions.begin() as session:
            now = self._clock()
            draft = Draft(
                reference=self._unused_reference(session),
                owner=owner,
                status="open",
                warnings={},
                created_at=now,
                updated_at=now,
            )
            session.add(draft)
            self._record(session, draft, owner, now, "created")
            for name, result in validated.items():
                self._apply(session, draft, owner, now, name, result)
            self._refresh_status(session, draft, owner, now)
        return draft

    def get(self, reference: str, owner: str) -> Draft:
        """The draft with this reference, if ``owner`` owns it."""
        with self._sessions() as session:
            return self._load(session, reference, owner)

    def events(self, reference: str, owner: str) -> list[DraftEvent]:
        """The audit trail of a draft, oldest first."""
        with self._sessions() as session:
            draft = self._load(session, reference, owner, with_events=True)
            return list(draft.events)

    def set_field(
        self,
        reference: str,
        owner: str,
        field: str,
        value: Any,
        expected_version: int | None = None,
    ) -> Draft:
        """Validate and save one field; raises FieldError (nothing saved) or ConcurrentUpdate."""
        return self.set_fields(reference, owner, {field: value}, expected_version)

    def set_fields(
        self,
        reference: str,
        owner: str,
        values: Mapping[str, Any],
        expected_version: int | None = None,
    ) -> Draft:
        """Validate and save several fields together: all are valid and saved, or none is."""
        validated = self._validate(values)
        return self._write(reference, owner, expected_version, self._setter(validated))

    def cancel(self, reference: str, owner: str, expected_version: int | None = None) -> Draft:
        def change(session: Session, draft: Draft, now: datetime) -> bool:
            self._set_status(session, draft, owner, now, "cancelled")
            return True

        return self._write(reference, owner, expected_version, change)

    def list_for_owner(self, owner: str, status: str | None = None) -> list[Draft]:
        """The owner's drafts, most recently changed first."""
        query = select(Draft).where(Draft.owner == owner)
        if status is not None:
            query = query.where(Draft.status == status)
        query = query.order_by(Draft.updated_at.desc(), Draft.id.desc())
        with self._sessions() as session:
            return list(session.execute(query).scalars())

    def latest_open_for_owner(self, owner: str) -> Draft | None:
        """The open draft to resume, if any."""
        drafts = self.list_for_owner(owner, status="open")
        return drafts[0] if drafts else None

    def missing_fields(self, draft: Draft) -> list[str]:
        return models.missing_fields(draft)

    def summary(self, draft: Draft) -> dict[str, Any]:
        """The draft's masked, JSON-ready view (`summary_of`)."""
        return summary_of(draft)

    # -- internals --------------------------------------------------------------------------

    def _validate(self, values: Mapping[str, Any]) -> dict[str, Validated]:
        results = validate_fields(values, self.validation_context())
        if results.errors:
            raise results.errors[0]
        return results.valid

    def _write(self, reference, owner, expected_version, change) -> Draft:
        try:
            with self._sessions.begin() as session:
                draft = self._load(session, reference, owner)
                if draft.status == "cancelled":
                    raise DraftClosed(draft.reference, draft.status)
                if expected_version is not None and draft.version != expected_version:
                    raise ConcurrentUpdate(draft.reference, expected_version, draft.version)
                now = self._clock()
                if change(session, draft, now):
                    draft.updated_at = now
        except StaleDataError as error:  # another writer committed between our read and write
            raise ConcurrentUpdate(normalize_reference(reference), expected_version, None) from error
        return draft

    def _setter(self, validated: dict[str, Validated]):
        def change(session: Session, draft: Draft, now: datetime) -> bool:
            owner = draft.owner
            changed = [self._apply(session, draft, owner, now, n, r) for n, r in validated.items()]
            if any(changed):
                self._refresh_status(session, draft, owner, now)
            return any(changed)

        return change

    def _load(self, session: Session, reference: str, owner: str, with_events=False) -> Draft:
        reference = normalize_reference(reference)
        query = select(Draft).where(Draft.reference == reference)
        if with_events:
            query = query.options(selectinload(Draft.events))
        draft = session.execute(query).scalar_one_or_none()
        if draft is None:
            raise DraftNotFound(reference)
        if draft.owner != owner:
            raise DraftAccessDenied(reference)
        return draft

    def _unused_reference(self, session: Session) -> str:
        for _ in range(10):
            reference = new_reference()
            if session.execute(select(Draft.id).where(Draft.reference == reference)).first() is None:
                return reference
        raise RuntimeError("could not find an unused draft reference")

    def _apply(self, session, draft, actor, now, name: str, result: Validated) -> bool:
        old = getattr(draft, name)
        warnings = dict(draft.warnings or {})
        if result.warnings:
            warnings[name] = list(result.warnings)
        else:
            warnings.pop(name, None)
        if warnings != (draft.warnings or {}):
            draft.warnings = warnings
        if old == result.value:
            return False
        setattr(draft, name, result.value)
        action = "field_set" if old in (None, "", []) else "field_changed"
        self._record(session, draft, actor, now, action, name, old, result.value)
        return True

    def _refresh_status(self, session, draft: Draft, actor: str, now: datetime) -> None:
        status = "open" if models.missing_fields(draft) else "ready"
        self._set_status(session, draft, actor, now, status)

    def _set_status(self, session, draft: Draft, actor: str, now: datetime, status: str) -> None:
        if draft.status != status:
            self._record(session, draft, actor, now, "status_changed", None, draft.status, status)
            draft.status = status

    def _record(self, session, draft, actor, now, action, name=None, old=None, new=None) -> None:
        session.add(
            DraftEvent(
                draft=draft,
                at=now,
                actor=actor,
                action=action,
                field=name,
                old_value=audit_value(name, old) if name else old,
                new_value=audit_value(name, new) if name else new,
            )
        )
