"""Bring a database's draft tables to the newest schema with Alembic, from code."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

from priorauth.db import make_engine

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "migrations" / "alembic.ini"
FIRST_REVISION = "0001_drafts"
DRAFT_TABLES = ("drafts", "draft_events")


def alembic_config(connection=None) -> Config:
    """The Alembic configuration of ``priorauth/migrations``, bound to a connection if given."""
    config = Config(str(ALEMBIC_INI))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Run ``alembic upgrade head`` on ``database_url``; a no-op when it is already there.

    Tables made earlier by ``priorauth.db.create_all`` (same schema, no Alembic record) are
    stamped as the first revision instead of being created again.
    """
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            config = alembic_config(connection)
            if _created_without_alembic(connection):
                command.stamp(config, FIRST_REVISION)
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def _created_without_alembic(connection) -> bool:
    tables = set(inspect(connection).get_table_names())
    return set(DRAFT_TABLES) <= tables and "alembic_version" not in tables
