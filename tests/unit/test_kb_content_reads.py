"""priorauth.kb.queries: reads of plain knowledge-base values are made once per process for the loaded content,
and made afresh when the content changes (a load of other data) or carries no content hash."""

from __future__ import annotations

from sqlalchemy.orm import Session

from priorauth.kb import models as m
from priorauth.kb import queries as q


def _a_citation(session: Session) -> tuple[str, str]:
    row = session.query(m.Citation).first()
    return row.record_type, row.record_id


def test_citations_are_read_once_for_the_content_then_from_memory(counted):
    engine, statements = counted
    with Session(engine, future=True) as s:
        key = _a_citation(s)
        first = q.citations_for(s, *key)
        plans = q.named_plans(s)
    assert first and plans
    statements.clear()
    with Session(engine, future=True) as s:  # the next turn: one read of the content hash, nothing else
        assert q.citations_for(s, *key) == first
        assert q.named_plans(s) == plans
        assert q.resolve(s, "plan", plans[0]) == plans[0]
        resolved_once = len(statements)
        assert q.resolve(s, "plan", plans[0]) == plans[0]
    assert [st for st in statements if "citation" in st.lower()] == []
    assert sum("kb_meta" in st for st in statements) == 1
    assert len(statements) == resolved_once


def test_a_change_of_content_is_read_afresh(counted):
    engine, statements = counted
    with Session(engine, future=True) as s:
        key = _a_citation(s)
        before = q.citations_for(s, *key)
    with Session(engine, future=True) as s, s.begin():  # another load: other quotes, another hash
        for row in s.query(m.Citation).filter_by(record_type=key[0], record_id=key[1]):
            row.quote = "changed " + row.quote
        s.get(m.Meta, m.CONTENT_HASH_KEY).value = "another-content"
    with Session(engine, future=True) as s:
        after = q.citations_for(s, *key)
    assert [c.quote for c in after] == ["changed " + c.quote for c in before]


def test_without_a_content_hash_every_session_reads_the_database(counted):
    engine, statements = counted
    with Session(engine, future=True) as s, s.begin():
        s.delete(s.get(m.Meta, m.CONTENT_HASH_KEY))
    with Session(engine, future=True) as s:
        key = _a_citation(s)
        q.citations_for(s, *key)
    statements.clear()
    with Session(engine, future=True) as s:
        q.citations_for(s, *key)
        q.citations_for(s, *key)  # once per session still
    assert sum("citation" in st.lower() for st in statements) == 1
