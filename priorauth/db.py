"""Engine and session factories shared by the knowledge base and the drafts (SQLAlchemy 2.0 style), and the
declarative `Base` their models share. It imports no model: the tables are listed in `priorauth.models`, and
only the Alembic migrations make them (`priorauth.schema.upgrade`)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import declarative_base, sessionmaker
from sqlalchemy.pool import QueuePool, StaticPool

Base = declarative_base()


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine for ``url``; SQLite files get their folder and foreign keys enforced."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        if path in ("", ":memory:"):
            kwargs.setdefault("poolclass", StaticPool)  # one shared in-memory database
        else:
            # SQLAlchemy 1.4 opens a new connection to a SQLite file for every session (NullPool): ~1 ms of CPU a
            # turn on the action server. A pooled connection holds no lock between sessions.
            kwargs.setdefault("poolclass", QueuePool)
    else:
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, future=True, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, future=True, expire_on_commit=False)
