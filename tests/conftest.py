"""Shared fixtures: the knowledge base loaded into in-memory SQLite (and PostgreSQL when available)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from priorauth.db import make_engine
from priorauth.kb.loader import load_kb

ROOT = Path(__file__).resolve().parent.parent
KB_DIR = ROOT / "data" / "authorization"
SOURCES_DIR = ROOT / "data" / "sources"
PG_URL = os.environ.get("PRIORAUTH_TEST_PG_URL")


def _backends():
    yield pytest.param("sqlite://", id="sqlite")
    yield pytest.param(
        PG_URL,
        id="postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not PG_URL, reason="PRIORAUTH_TEST_PG_URL not set (scripts/services.sh start sets it)"),
        ],
    )


@pytest.fixture(scope="session", params=list(_backends()))
def kb_engine(request):
    engine = make_engine(request.param)
    if engine.dialect.name == "postgresql":
        from priorauth.db import Base

        Base.metadata.drop_all(engine)
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
    load_kb(engine, KB_DIR, SOURCES_DIR)
    with Session(engine, future=True) as s:
        yield s
