"""priorauth/db.py: create_all makes the knowledge base's and the drafts' tables, and a broken model import fails."""

from __future__ import annotations

import sys

import pytest
from sqlalchemy import inspect

from priorauth.db import create_all, make_engine


def test_create_all_makes_the_knowledge_base_and_draft_tables():
    engine = make_engine("sqlite://")
    create_all(engine)
    assert {"drafts", "draft_events", "kb_procedure"} <= set(inspect(engine).get_table_names())


def test_a_broken_draft_models_import_fails_loudly(monkeypatch):
    import priorauth.drafts

    monkeypatch.delattr(priorauth.drafts, "models", raising=False)
    monkeypatch.setitem(sys.modules, "priorauth.drafts.models", None)  # the next import raises ImportError
    with pytest.raises(ImportError):
        create_all(make_engine("sqlite://"))


def test_the_action_servers_reset_closes_the_old_engines_pool(monkeypatch):
    # A database outage resets the backend; each reset must not leave a pool of connections behind.
    from actions import backend
    from priorauth.db import make_session_factory

    engine = make_engine("sqlite://")
    disposed = []
    monkeypatch.setattr(type(engine), "dispose", lambda self, *a, **k: disposed.append(self))
    monkeypatch.setattr(backend, "_factory", make_session_factory(engine))
    backend.reset()
    assert backend._factory is None and disposed == [engine]
    backend.reset()  # nothing to close the second time
    assert disposed == [engine]
