"""Draft repository and schema migration on SQLite, and on PostgreSQL when one is given."""

from __future__ import annotations

import os
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, event, inspect, select, text

from priorauth.db import Base, make_engine, make_session_factory
from priorauth.drafts.models import Draft, DraftEvent
from priorauth.drafts.repository import (
    ConcurrentUpdate,
    DraftAccessDenied,
    DraftClosed,
    DraftNotFound,
    DraftRepository,
)
from priorauth.drafts.validators import FieldError
from priorauth.schema import head_revision, upgrade
from tests.required import pg_url_or_skip

PG_URL = os.environ.get("PRIORAUTH_TEST_PG_URL")
DRAFT_TABLES = ("drafts", "draft_events")
START = datetime(2026, 1, 15, 15, 0, tzinfo=timezone.utc)
OWNER = "sender-42"
MEMBER_ID = "ABC123456789"

COMPLETE = {
    "member_id": MEMBER_ID,
    "member_dob": "3/4/1960",
    "ordering_npi": "1234567893",
    "ordering_tax_id": "12-3456789",
    "servicing_npi": "1245319599",
    "facility_name": "Mercy Hospital",
    "setting": "office",
    "procedure_codes": "27447",
    "diagnosis_codes": "M17.11",
    "date_of_service": "12/1/2026",
}


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """An empty database brought to the newest schema by the Alembic migration."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'drafts.db'}"
        upgrade(url)
        yield url
        return
    pg_url_or_skip()
    with _pg_schema() as url:
        upgrade(url)
        yield url


class _pg_schema:
    """A fresh PostgreSQL schema per test, selected through the connection's search_path."""

    def __enter__(self) -> str:
        self.schema = f"t_{uuid.uuid4().hex[:12]}"
        self.admin = make_engine(PG_URL)
        with self.admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        separator = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{separator}options={quote(f'-csearch_path={self.schema}')}"

    def __exit__(self, *_exc) -> None:
        with self.admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        self.admin.dispose()


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def repo(engine, clock):
    return DraftRepository(make_session_factory(engine), clock)


def event_rows(engine) -> list[tuple]:
    with engine.connect() as connection:
        return connection.execute(
            select(DraftEvent.action, DraftEvent.field, DraftEvent.old_value, DraftEvent.new_value).order_by(
                DraftEvent.id
            )
        ).all()


# -- saving and resuming -------------------------------------------------------------------


def test_open_saves_normalized_fields_with_a_reference(repo):
    draft = repo.open(OWNER, {"member_id": "abc 1234 56789", "member_dob": "March 4, 1960"})
    assert re.fullmatch(r"DR-[2-9A-HJKMNP-Z]{6}", draft.reference)
    stored = repo.get(draft.reference, OWNER)
    assert (stored.member_id, stored.member_dob) == (MEMBER_ID, date(1960, 3, 4))
    assert (stored.status, stored.version, stored.owner) == ("open", 1, OWNER)
    assert stored.created_at == stored.updated_at == START
    assert stored.created_at.tzinfo is not None


def test_references_differ(repo):
    references = {repo.open(OWNER).reference for _ in range(20)}
    assert len(references) == 20


def test_reference_is_found_however_it_is_typed(repo):
    reference = repo.open(OWNER).reference
    for typed in (reference.lower(), reference[3:], " " + reference.replace("-", " ")):
        assert repo.get(typed, OWNER).id is not None


def test_a_new_repository_on_the_same_database_resumes_the_draft(database_url, repo):
    draft = repo.open(OWNER, {"member_id": MEMBER_ID})
    repo.set_field(draft.reference, OWNER, "ordering_npi", "1234567893")
    later_engine = make_engine(database_url)
    try:
        resumed = DraftRepository(make_session_factory(later_engine), FakeClock())
        latest = resumed.latest_open_for_owner(OWNER)
        assert latest.reference == draft.reference
        assert latest.ordering_npi == "1234567893"
        assert resumed.missing_fields(latest)[0] == "member_dob"
    finally:
        later_engine.dispose()


def test_latest_open_skips_cancelled_and_other_owners(repo, clock):
    older = repo.open(OWNER)
    clock.advance(minutes=5)
    newer = repo.open(OWNER)
    repo.open("someone-else")
    assert repo.latest_open_for_owner(OWNER).reference == newer.reference
    repo.cancel(newer.reference, OWNER)
    assert repo.latest_open_for_owner(OWNER).reference == older.reference
    assert [d.reference for d in repo.list_for_owner(OWNER)] == [newer.reference, older.reference]
    assert repo.latest_open_for_owner("nobody") is None


# -- changing fields and the audit trail -----------------------------------------------------


def test_set_field_bumps_version_and_records_set_then_changed(engine, repo):
    draft = repo.open(OWNER)
    first = repo.set_field(draft.reference, OWNER, "ordering_npi", "1234567893")
    second = repo.set_field(draft.reference, OWNER, "ordering_npi", "1245319599", expected_version=2)
    assert (first.version, second.version) == (2, 3)
    assert event_rows(engine) == [
        ("created", None, None, None),
        ("field_set", "ordering_npi", None, "1234567893"),
        ("field_changed", "ordering_npi", "1234567893", "1245319599"),
    ]


def test_setting_the_same_value_again_changes_nothing(engine, repo):
    draft = repo.open(OWNER, {"setting": "office"})
    again = repo.set_field(draft.reference, OWNER, "setting", "physician office")
    assert again.version == draft.version
    assert len(event_rows(engine)) == 2


def test_audit_trail_masks_member_id_and_birth_date(engine, repo):
    draft = repo.open(OWNER, {"member_id": MEMBER_ID, "member_dob": "3/4/1960"})
    repo.set_field(draft.reference, OWNER, "member_id", "XYZ987654321")
    repo.set_field(draft.reference, OWNER, "member_dob", "1961-05-06")
    rows = [row for row in event_rows(engine) if row[1] in ("member_id", "member_dob")]
    assert rows == [
        ("field_set", "member_id", None, "****6789"),
        ("field_set", "member_dob", None, "**/**/****"),
        ("field_changed", "member_id", "****6789", "****4321"),
        ("field_changed", "member_dob", "**/**/****", "**/**/****"),
    ]
    stored_text = " ".join(str(value) for row in event_rows(engine) for value in row)
    for secret in (MEMBER_ID, "XYZ987654321", "1960", "1961"):
        assert secret not in stored_text


def test_events_are_read_through_the_owner_check(repo):
    draft = repo.open(OWNER, {"member_id": MEMBER_ID})
    events = repo.events(draft.reference, OWNER)
    assert [(e.action, e.actor) for e in events] == [("created", OWNER), ("field_set", OWNER)]
    assert all(e.at.tzinfo is not None for e in events)
    with pytest.raises(DraftAccessDenied):
        repo.events(draft.reference, "intruder")


# -- invalid input ---------------------------------------------------------------------------


def test_invalid_input_raises_and_stores_nothing(engine, repo):
    draft = repo.open(OWNER, {"ordering_npi": "1234567893"})
    with pytest.raises(FieldError, match="check digit; got 1234567890"):
        repo.set_field(draft.reference, OWNER, "ordering_npi", "1234567890")
    stored = repo.get(draft.reference, OWNER)
    assert (stored.ordering_npi, stored.version) == ("1234567893", 1)
    assert len(event_rows(engine)) == 2


def test_several_fields_are_saved_all_or_none(repo):
    draft = repo.open(OWNER)
    with pytest.raises(FieldError) as caught:
        repo.set_fields(draft.reference, OWNER, {"member_id": MEMBER_ID, "setting": "garage"})
    assert caught.value.field == "setting"
    assert repo.get(draft.reference, OWNER).member_id is None


def test_open_with_invalid_initial_values_creates_no_draft(engine, repo):
    with pytest.raises(FieldError):
        repo.open(OWNER, {"member_id": MEMBER_ID, "member_dob": "3/4/2090"})
    with engine.connect() as connection:
        assert connection.execute(select(Draft.id)).all() == []


def test_date_of_service_is_judged_by_the_users_today(engine):
    # 02:00 UTC on March 2 is still March 1 in New York: "today" means March 1 there.
    late_evening = FakeClock(datetime(2026, 3, 2, 1, 59, 59, tzinfo=timezone.utc))
    repo = DraftRepository(make_session_factory(engine), late_evening)
    draft = repo.open(OWNER, {"date_of_service": "today"})
    assert draft.date_of_service == date(2026, 3, 1)


def test_the_users_time_zone_is_configured(engine, monkeypatch):
    # 01:59 UTC on March 2 is already March 2 in Berlin, still March 1 in New York (the default).
    late_evening = FakeClock(datetime(2026, 3, 2, 1, 59, 59, tzinfo=timezone.utc))
    monkeypatch.setenv("PRIORAUTH_TIME_ZONE", "Europe/Berlin")
    repo = DraftRepository(make_session_factory(engine), late_evening)
    assert repo.open(OWNER, {"date_of_service": "today"}).date_of_service == date(2026, 3, 2)


def test_date_of_service_before_the_earliest_date_is_refused(engine, clock):
    repo = DraftRepository(make_session_factory(engine), clock, earliest_service_date=date(2026, 6, 1))
    draft = repo.open(OWNER)
    with pytest.raises(FieldError, match="on or after 2026-06-01"):
        repo.set_field(draft.reference, OWNER, "date_of_service", "5/31/2026")


# -- concurrency -----------------------------------------------------------------------------


def test_second_writer_with_a_stale_version_loses(engine, repo, database_url):
    draft = repo.open(OWNER)
    other_engine = make_engine(database_url)
    try:
        other = DraftRepository(make_session_factory(other_engine), FakeClock())
        assert repo.get(draft.reference, OWNER).version == 1
        assert other.get(draft.reference, OWNER).version == 1
        repo.set_field(draft.reference, OWNER, "facility_name", "Mercy Hospital", expected_version=1)
        with pytest.raises(ConcurrentUpdate) as caught:
            other.set_field(draft.reference, OWNER, "facility_name", "Saint Anne", expected_version=1)
    finally:
        other_engine.dispose()
    assert (caught.value.expected, caught.value.actual) == (1, 2)
    assert repo.get(draft.reference, OWNER).facility_name == "Mercy Hospital"


def test_a_write_committed_between_read_and_write_is_detected(engine, repo, database_url):
    """Both writers read version 1; the other commits first, so this UPDATE matches no row."""
    draft = repo.open(OWNER)
    other_engine = make_engine(database_url)
    other = DraftRepository(make_session_factory(other_engine), FakeClock())
    fired = []

    def other_writer_commits(conn, cursor, statement, *_args):
        # This writer has read version 1 and is about to write: the other one commits first.
        if not fired and statement.lstrip().upper().startswith("UPDATE DRAFTS"):
            fired.append(True)
            other.set_field(draft.reference, OWNER, "facility_name", "Mercy Hospital")

    event.listen(engine, "before_cursor_execute", other_writer_commits)
    try:
        with pytest.raises(ConcurrentUpdate):
            repo.set_field(draft.reference, OWNER, "facility_name", "Saint Anne", expected_version=1)
    finally:
        event.remove(engine, "before_cursor_execute", other_writer_commits)
        other_engine.dispose()
    stored = repo.get(draft.reference, OWNER)
    assert fired and (stored.facility_name, stored.version) == ("Mercy Hospital", 2)


# -- access control --------------------------------------------------------------------------


def test_another_owner_can_neither_read_change_nor_cancel(repo):
    draft = repo.open(OWNER, {"member_id": MEMBER_ID})
    for attempt in (
        lambda: repo.get(draft.reference, "agent:7"),
        lambda: repo.set_field(draft.reference, "agent:7", "setting", "office"),
        lambda: repo.cancel(draft.reference, "agent:7"),
    ):
        with pytest.raises(DraftAccessDenied) as caught:
            attempt()
        assert MEMBER_ID not in str(caught.value)
    stored = repo.get(draft.reference, OWNER)
    assert (stored.status, stored.setting, stored.version) == ("open", None, 1)
    assert repo.list_for_owner("agent:7") == []


def test_unknown_reference_is_not_found(repo):
    with pytest.raises(DraftNotFound):
        repo.get("DR-ZZZZZZ", OWNER)


# -- completeness, status and summary --------------------------------------------------------


def test_missing_fields_are_listed_in_form_order(repo):
    draft = repo.open(OWNER, {"member_dob": "3/4/1960", "setting": "office"})
    assert repo.missing_fields(draft) == [
        "member_id",
        "ordering_npi",
        "ordering_tax_id",
        "servicing_npi",
        "facility_name",
        "procedure_codes",
        "diagnosis_codes",
        "date_of_service",
    ]


def test_draft_becomes_ready_when_complete_and_open_again_when_a_reason_is_needed(engine, repo):
    draft = repo.open(OWNER, {k: v for k, v in COMPLETE.items() if k != "date_of_service"})
    assert draft.status == "open"
    ready = repo.set_field(draft.reference, OWNER, "date_of_service", "12/1/2026")
    assert (ready.status, repo.missing_fields(ready)) == ("ready", [])
    hospital = repo.set_field(draft.reference, OWNER, "setting", "HOPD")
    assert (hospital.status, repo.missing_fields(hospital)) == ("open", ["site_of_care_reason"])
    reason = "Severe sleep apnea needs overnight monitoring"
    done = repo.set_field(draft.reference, OWNER, "site_of_care_reason", reason)
    assert done.status == "ready"
    statuses = [(old, new) for action, _f, old, new in event_rows(engine) if action == "status_changed"]
    assert statuses == [("open", "ready"), ("ready", "open"), ("open", "ready")]
    assert reason not in " ".join(str(row) for row in event_rows(engine))


def test_cancelled_draft_cannot_change(repo):
    draft = repo.open(OWNER)
    cancelled = repo.cancel(draft.reference, OWNER)
    assert cancelled.status == "cancelled"
    with pytest.raises(DraftClosed):
        repo.set_field(draft.reference, OWNER, "setting", "office")
    with pytest.raises(DraftClosed):
        repo.cancel(draft.reference, OWNER)


def test_summary_masks_identity_and_lists_warnings(engine, clock):
    known = {"27447", "M17.11"}.__contains__
    repo = DraftRepository(make_session_factory(engine), clock, known_code=known)
    draft = repo.open(OWNER, {**COMPLETE, "procedure_codes": "27447, 27999"})
    summary = repo.summary(repo.get(draft.reference, OWNER))
    assert summary["fields"]["member_id"] == "****6789"
    assert summary["fields"]["member_dob"] == "**/**/1960"
    assert summary["fields"]["procedure_codes"] == ["27447", "27999"]
    assert summary["fields"]["date_of_service"] == "2026-12-01"
    assert summary["fields"]["setting"] == "office"
    assert (summary["status"], summary["missing"]) == ("ready", [])
    assert summary["warnings"] == [
        "27999 is not in the knowledge base: the plan's code list governs whether it needs review"
    ]
    assert MEMBER_ID not in str(summary)
    fixed = repo.set_field(draft.reference, OWNER, "procedure_codes", "27447")
    assert repo.summary(fixed)["warnings"] == []


# -- schema migration ------------------------------------------------------------------------


def _draft_metadata_diff(engine, metadata=Base.metadata) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    return [d for d in diff if _table_of(d) in DRAFT_TABLES]


def _table_of(difference) -> str:
    item = difference[0] if isinstance(difference, list) else difference
    kind = item[0]
    if kind in ("add_table", "remove_table"):
        return item[1].name
    if kind.endswith("_column") or kind.startswith("modify_"):
        return item[2]
    return item[1].table.name  # indexes and constraints


def test_migration_creates_tables_matching_the_models(engine):
    assert set(DRAFT_TABLES) <= set(inspect(engine).get_table_names())
    assert _draft_metadata_diff(engine) == []


def test_migration_check_would_notice_a_difference(engine):
    changed = MetaData()
    for table in (Draft.__table__, DraftEvent.__table__):
        table.to_metadata(changed)
    changed.tables["drafts"].append_column(Column("priority", Integer))
    assert [d[0] for d in _draft_metadata_diff(engine, changed)] == ["add_column"]


def test_upgrade_at_head_is_a_no_op(database_url, engine, repo):
    reference = repo.open(OWNER, {"member_id": MEMBER_ID}).reference
    upgrade(database_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == [(head_revision(),)]
    assert repo.get(reference, OWNER).member_id == MEMBER_ID


def test_upgrade_adopts_tables_made_by_create_all(tmp_path):
    url = f"sqlite:///{tmp_path / 'made_by_create_all.db'}"
    engine = make_engine(url)
    try:
        Base.metadata.create_all(engine, tables=[Draft.__table__, DraftEvent.__table__])
        upgrade(url)
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == head_revision()
    finally:
        engine.dispose()
