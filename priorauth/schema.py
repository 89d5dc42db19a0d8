"""The database schema, made and changed only by the Alembic migrations in ``priorauth/migrations``.

``upgrade`` brings a database to the newest revision: ``priorauth load`` and the action server's first use
of the database call it. It is idempotent, and safe when several processes start at once: on PostgreSQL
they queue on an advisory lock, on SQLite on the database's write lock, and each one after the first
finds the schema at head. A database made before Alembic managed it (by ``create_all``) is adopted.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from priorauth.db import make_engine

ALEMBIC_INI = Path(__file__).resolve().parent / "migrations" / "alembic.ini"
FIRST_REVISION = "0001_drafts"
DRAFT_TABLES = ("drafts", "draft_events")
# One advisory lock id for every process that migrates this schema (PostgreSQL bigint).
ADVISORY_LOCK_ID = zlib.crc32(b"priorauth schema upgrade")


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration of ``priorauth/migrations``, bound to a connection if given."""
    config = Config(str(ALEMBIC_INI))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(database: Engine | str, revision: str = "head") -> None:
    """Run ``alembic upgrade`` to ``revision`` on an engine or a database URL; a no-op when it is there.

    Draft tables made earlier by ``create_all`` (same schema, no Alembic record) are stamped as the first
    revision instead of being created again; knowledge-base tables made that way are remade by 0002_kb.
    """
    engine = make_engine(database) if isinstance(database, str) else database
    try:
        with engine.begin() as connection:
            _lock_schema(connection)
            config = alembic_config(connection)
            if _created_without_alembic(connection):
                command.stamp(config, FIRST_REVISION)
            command.upgrade(config, revision)
    finally:
        if isinstance(database, str):
            engine.dispose()


def _lock_schema(connection: Connection) -> None:
    """Serialize migrations across processes for the rest of this transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})
    elif connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        # pysqlite would begin only at the first write; take the write lock before reading the version.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _created_without_alembic(connection: Connection) -> bool:
    tables = set(inspect(connection).get_table_names())
    return set(DRAFT_TABLES) <= tables and "alembic_version" not in tables
