"""Shared fixtures: the knowledge base loaded into in-memory SQLite and into PostgreSQL (see tests/required.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from priorauth.db import make_engine
from priorauth.kb import queries
from priorauth.kb.loader import load_kb
from priorauth.schema import upgrade
from tests.required import pg_url_or_skip

ROOT = Path(__file__).resolve().parent.parent
KB_DIR = ROOT / "data" / "authorization"
SOURCES_DIR = ROOT / "data" / "sources"


def drop_schema(engine) -> None:
    """Every table of priorauth and Alembic's record of them, so that the next upgrade starts afresh."""
    from priorauth.models import metadata

    metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture(
    scope="session",
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)],
)
def kb_engine(request):
    engine = make_engine("sqlite://" if request.param == "sqlite" else pg_url_or_skip())
    if engine.dialect.name == "postgresql":
        drop_schema(engine)
    upgrade(engine)
    load_kb(engine, KB_DIR, SOURCES_DIR)
    yield engine
    engine.dispose()


@pytest.fixture
def session(kb_engine):
    with Session(kb_engine, future=True) as s:
        yield s


@pytest.fixture(scope="session")
def sqlite_session():
    engine = make_engine("sqlite://")
    upgrade(engine)
    load_kb(engine, KB_DIR, SOURCES_DIR)
    with Session(engine, future=True) as s:
        yield s


@pytest.fixture
def counted():
    """A fresh in-memory knowledge base and a counter of the SELECTs sent to it."""
    engine = make_engine("sqlite://")
    upgrade(engine)
    load_kb(engine, KB_DIR, SOURCES_DIR)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    queries._CONTENT_READS.clear()
    yield engine, statements
    queries._CONTENT_READS.clear()
    engine.dispose()
