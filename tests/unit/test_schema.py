"""priorauth/schema.py: the migrations are the only path to the schema. They make every table the models
declare, run twice without change, adopt a database made by the old create_all path, and let two processes
upgrade one database at once. On SQLite here, on PostgreSQL too when tests/required.py finds one."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from priorauth.db import make_engine, make_session_factory
from priorauth.drafts.repository import DraftRepository
from priorauth.kb.loader import load_kb
from priorauth.models import DRAFT_TABLES, KB_TABLES, metadata
from priorauth.schema import head_revision, upgrade
from tests.required import pg_url_or_skip

ROOT = Path(__file__).resolve().parents[2]
KB_DIR = ROOT / "data" / "authorization"
SOURCES_DIR = ROOT / "data" / "sources"
OWNER = "sender-schema"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """An empty database: a SQLite file, or a fresh PostgreSQL schema chosen by the URL's search_path."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'schema.db'}"
        return
    base = pg_url_or_skip()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def version(engine) -> list[tuple]:
    with engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).all()


def schema_differences(engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def test_upgrade_makes_every_table_the_models_declare(engine):
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert {*DRAFT_TABLES, *KB_TABLES, "kb_procedure_reading"} <= tables
    assert schema_differences(engine) == []
    assert version(engine) == [(head_revision(),)]


def test_upgrade_twice_changes_nothing_and_keeps_the_data(engine):
    upgrade(engine)
    assert load_kb(engine, KB_DIR, SOURCES_DIR) is True
    reference = DraftRepository(make_session_factory(engine)).open(OWNER, {"member_id": "ABC123456789"}).reference
    upgrade(engine)
    upgrade(engine)
    assert version(engine) == [(head_revision(),)]
    assert load_kb(engine, KB_DIR, SOURCES_DIR) is False  # the knowledge base was left as loaded
    assert DraftRepository(make_session_factory(engine)).get(reference, OWNER).member_id == "ABC123456789"


def test_a_database_made_by_create_all_is_adopted(engine):
    # The old runtime: create_all of every table (before kb_procedure_reading existed), then a load and a draft.
    old_tables = [table for name, table in metadata.tables.items() if name != "kb_procedure_reading"]
    metadata.create_all(engine, tables=old_tables)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO kb_meta (key, value) VALUES ('content_sha256', 'old')"))
    repo = DraftRepository(make_session_factory(engine))
    reference = repo.open(OWNER, {"member_id": "ABC123456789", "member_dob": "3/4/1960"}).reference

    upgrade(engine)

    assert version(engine) == [(head_revision(),)]
    assert schema_differences(engine) == []
    draft = repo.get(reference, OWNER)  # the drafts are kept: their tables were stamped, not made again
    assert (draft.member_id, draft.member_dob) == ("ABC123456789", date(1960, 3, 4))
    assert load_kb(engine, KB_DIR, SOURCES_DIR) is True  # the knowledge base is remade, then loaded afresh
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM kb_procedure_reading")).scalar() > 0


def test_processes_starting_together_upgrade_once(database_url):
    # Each thread is a process starting at once with its own engine; all must succeed on one schema.
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def start_up() -> None:
        engine = make_engine(database_url)
        try:
            start.wait()
            upgrade(engine)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=start_up) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    engine = make_engine(database_url)
    try:
        assert version(engine) == [(head_revision(),)]
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_no_create_all_outside_tests():
    # The migrations are the only path to the schema: a create_all at runtime would collide with them.
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for top in ("actions", "addons", "priorauth", "scripts", "bench")
        for path in (ROOT / top).rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "create_all(" in line
    ]
    assert found == []


def test_the_engine_module_imports_no_model():
    # priorauth.db <-> the model modules was an import cycle; Base now stands alone.
    code = (
        "import sys, priorauth.db; "
        "assert not [m for m in sys.modules if m.endswith('.models')], sorted(sys.modules); "
        "import priorauth.drafts.models, priorauth.kb.models"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
