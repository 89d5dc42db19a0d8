"""priorauth.kb.reading: the knowledge base's read session is kept from turn to turn while its content is unchanged,
answers as a fresh session would, holds no connection between turns, never writes, and starts over on a new load,
an error or a database without a content hash."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import event, update

from priorauth.db import make_session_factory
from priorauth.kb import models as m
from priorauth.kb import queries as q
from priorauth.kb.loader import load_kb
from priorauth.kb.reading import KBReader, ReadOnlyError
from priorauth.kb.requirement import review_requirement
from tests.conftest import KB_DIR, SOURCES_DIR

QUESTIONS = [
    {"procedure": "total knee arthroplasty"},
    {"code": "27447", "setting": "outpatient_hospital", "line_of_business": "aso"},
    {"procedure": "lumbar fusion", "plan": "anthem_maine"},
    {"procedure": "epidural steroid injection", "presentation": "emergency"},
]


@pytest.fixture
def kb(counted):
    """An in-memory knowledge base, its reader and the SELECTs sent to it."""
    engine, statements = counted
    return engine, KBReader(make_session_factory(engine)), statements


def summary(answer) -> tuple:
    return (answer.status, answer.procedure, [f.text for f in answer.facts], answer.cases, answer.info_needed)


def test_a_repeated_question_costs_one_query_the_content_check(kb):
    _engine, reader, statements = kb
    with reader.session() as session:
        first = review_requirement(session, **QUESTIONS[1])
    read_first = len(statements)
    statements.clear()
    with reader.session() as session:
        again = review_requirement(session, **QUESTIONS[1])
    assert read_first > 20
    assert len(statements) == 1 and "kb_meta" in statements[0]
    assert summary(again) == summary(first)
    assert reader.sessions_started == 1


def test_answers_are_those_of_a_fresh_session_in_any_order(kb):
    engine, reader, _ = kb
    fresh = make_session_factory(engine)
    expected = []
    for question in QUESTIONS:
        q._CONTENT_READS.clear()
        with fresh() as session:
            expected.append(summary(review_requirement(session, **question)))
    for order in (QUESTIONS, QUESTIONS[::-1], QUESTIONS):
        for question in order:
            with reader.session() as session:
                assert summary(review_requirement(session, **question)) == expected[QUESTIONS.index(question)]


def test_no_connection_or_transaction_is_held_between_turns(kb):
    engine, reader, _ = kb
    held: list[int] = []
    event.listen(engine, "checkout", lambda *_: held.append(1))
    event.listen(engine, "checkin", lambda *_: held.pop())
    with reader.session() as session:
        review_requirement(session, **QUESTIONS[0])
        assert session.in_transaction() and held
    assert not session.in_transaction()
    assert held == []


def test_a_new_load_is_read_at_the_next_turn(kb, tmp_path):
    engine, reader, _ = kb
    with reader.session() as session:
        assert q.scope_of(session, "anthem_maine").plan_name.startswith("Anthem Maine")
    changed = tmp_path / "kb"
    shutil.copytree(KB_DIR, changed)
    sources = changed / "sources.yml"
    sources.write_text(sources.read_text().replace("name: Anthem Maine (", "name: Anthem of Maine ("))
    q._CONTENT_READS.clear()
    assert load_kb(engine, changed, SOURCES_DIR)
    with reader.session() as session:
        assert q.scope_of(session, "anthem_maine").plan_name.startswith("Anthem of Maine")
    assert reader.sessions_started == 2


def test_it_never_writes_and_starts_over_after_a_write_attempt(kb):
    engine, reader, _ = kb
    with pytest.raises(ReadOnlyError), reader.session() as session:
        session.get(m.Plan, "anthem_maine").name = "changed"
    with reader.session() as session:
        assert session.get(m.Plan, "anthem_maine").name.startswith("Anthem Maine")
    assert reader.sessions_started == 2
    with make_session_factory(engine)() as other:
        assert other.get(m.Plan, "anthem_maine").name.startswith("Anthem Maine")


def test_an_error_in_a_turn_drops_the_kept_rows(kb):
    _engine, reader, _ = kb
    with pytest.raises(ZeroDivisionError), reader.session() as session:
        review_requirement(session, **QUESTIONS[0])
        _ = 1 / 0
    with reader.session():
        pass
    assert reader.sessions_started == 2


def test_without_a_content_hash_nothing_outlives_the_turn(kb):
    engine, reader, statements = kb
    with engine.begin() as connection:
        connection.execute(update(m.Meta).where(m.Meta.key == m.CONTENT_HASH_KEY).values(key="other"))
    for _ in range(2):
        statements.clear()
        with reader.session() as session:
            review_requirement(session, **QUESTIONS[0])
        assert len(statements) > 20
    assert reader.sessions_started == 2
