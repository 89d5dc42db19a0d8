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
