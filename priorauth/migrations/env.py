"""Alembic environment: migrates the database given by the caller, the `-x url=` or the settings.

Logging is left alone on purpose: fileConfig() would replace the host application's handlers.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.types import TypeDecorator

from priorauth.config import Settings
from priorauth.db import make_engine
from priorauth.models import metadata as target_metadata


def _render_item(type_, obj, autogen_context):
    """Write a custom column type as its plain SQL type, so migrations do not import models."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        autogen_context.imports.add("import sqlalchemy as sa")
        return f"sa.{obj.impl!r}"
    return False


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        render_item=_render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _database_url() -> str:
    return context.get_x_argument(as_dictionary=True).get("url") or Settings.from_env().database_url


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = make_engine(_database_url())
    try:
        with engine.connect() as connection:
            _configure(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; give a database URL")
run_migrations_online()
