"""Each fact, title and quote has one home, the data: the code asks the data by meaning (a fact's key, a plan's
scope, a schedule's program), so an edit of the data shows in the answers and no copy of it lives in the code."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from priorauth.answering import answer_for
from priorauth.db import make_engine, make_session_factory
from priorauth.kb import queries as q
from priorauth.kb.loader import load_kb
from priorauth.kb.reader import iter_cites, parse_cites, read_kb
from priorauth.kb.requirement import review_requirement
from priorauth.render import render_full_text, source_line
from priorauth.schema import upgrade
from tests.conftest import KB_DIR, SOURCES_DIR

ROOT = Path(__file__).resolve().parents[2]
CODE = [*sorted((ROOT / "priorauth").rglob("*.py")), *sorted((ROOT / "actions").glob("*.py"))]


def edit(path: Path, old: str, new: str) -> None:
    content = path.read_text(encoding="utf-8")
    assert old in content, f"fixture text {old!r} not in {path.name}"
    path.write_text(content.replace(old, new, 1), encoding="utf-8")


def session_of(kb_dir: Path):
    engine = make_engine("sqlite://")
    upgrade(engine)
    load_kb(engine, kb_dir, SOURCES_DIR)
    return make_session_factory(engine)()


@pytest.fixture
def kb_copy(tmp_path) -> Path:
    shutil.copytree(KB_DIR, tmp_path / "kb")
    return tmp_path / "kb"


def test_the_source_line_names_the_source_by_its_records_short_title(kb_copy):
    edit(kb_copy / "sources.yml", "short_title: AIM Musculoskeletal Program FAQ", "short_title: The MSK FAQ")
    with session_of(kb_copy) as session:
        answer = answer_for(session, "reconsideration", {}, "how long do we have after a denial")
        assert "Source: The MSK FAQ (002_7692799ea26ffc45.txt)" in source_line(answer)


def test_the_decisions_caveats_and_their_citations_come_from_the_data(kb_copy):
    edit(kb_copy / "caveats.yml", "governs; check it on the AIM ProviderPortal", "governs; look it up on the portal")
    with session_of(kb_copy) as session:
        answer = review_requirement(session, code="99999")
        caveat = next(f for f in answer.facts if f.text.startswith("99999 is not in my knowledge base"))
        assert "look it up on the portal" in caveat.text
        assert [(c.source_id, c.quote) for c in caveat.citations] == [
            ("002", "See the billing codes for the procedures we review")
        ]
        confirm = next(f for f in answer.facts if f.kind == "route")
        assert [c.source_id for c in confirm.citations] == ["001"]


def test_a_fact_is_asked_for_by_its_key_not_its_place(kb_copy):
    # The expiration-date caveat moved first: the validity answer still adds that caveat, not the other one.
    contacts = kb_copy / "contacts.yml"
    content = contacts.read_text(encoding="utf-8")
    first, second = re.search(
        r"validity_caveats:\n((?:  - .*\n(?:    .*\n)*){1})((?:  - .*\n(?:    .*\n)*))", content
    ).groups()
    contacts.write_text(content.replace(first + second, second + first), encoding="utf-8")
    with session_of(kb_copy) as session:
        caveats = [f.text for f in q.validity(session, program="spine surgery").facts if f.kind == "caveat"]
    assert caveats == [
        "AIM communicates the expiration date in the approval notification for each case; that date governs."
    ]


def test_plans_and_their_scopes_come_from_the_data(kb_copy):
    edit(kb_copy / "sources.yml", "short_name: Anthem Maine", "short_name: Maine Anthem")
    with session_of(kb_copy) as session:
        assert q.named_plans(session) == ("anthem_blue_cross", "anthem_bcbs", "anthem_maine")
        assert q.plan_names(session, ["anthem_maine"]) == "Maine Anthem"
        assert q.plan_applies(session, "anthem", "anthem_maine") and q.plan_applies(session, "any_plan", "x")
        assert not q.plan_applies(session, "anthem_bcbs", "anthem_maine")
    edit(kb_copy / "sources.yml", "covers: [anthem_blue_cross, anthem_bcbs, anthem_maine]", "covers: [anthem_bcbs]")
    with session_of(kb_copy) as session:
        assert not q.plan_applies(session, "anthem", "anthem_maine")


def test_one_rehabilitation_filter_reads_a_line_of_business_as_part_of_a_broader_one(kb_copy):
    with session_of(kb_copy) as session:
        for lob in ("aso", "fully_insured"):
            assert [r.id for r in q.rehab_schedule(session, line_of_business=lob, state="NY")] == [
                "rehab_commercial_relaunch"
            ]
        topic = q.rehabilitation(session, state="NY", line_of_business="aso")
        assert any("relaunch November 1st" in c.quote for f in topic.facts for c in f.citations)
    settings = kb_copy / "settings.yml"
    settings.write_text(settings.read_text(encoding="utf-8").replace("    part_of: commercial\n", ""), encoding="utf-8")
    with session_of(kb_copy) as session:
        assert [r.id for r in q.rehab_schedule(session, line_of_business="fully_insured")] == []


def test_no_quote_or_title_of_the_sources_is_copied_into_the_code():
    data = read_kb(KB_DIR)
    quotes = {c.quote for _t, _id, _r, value in iter_cites(data) for c in parse_cites(value)}
    titles = {s[k] for s in data.get("sources") for k in ("title", "short_title")}
    # Long enough to be a copy, not a common phrase ("AIM Rehabilitation Program" also names the program).
    copied = {t for t in quotes | titles if len(t) >= 30}
    code = {path: path.read_text(encoding="utf-8") for path in CODE}
    copies = [(p.name, t) for p, body in code.items() for t in copied if t in body]
    assert copies == []


def test_an_older_databases_knowledge_base_tables_are_made_again_with_the_new_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'older.db'}"
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE TABLE kb_source (id VARCHAR(8) PRIMARY KEY, file VARCHAR(200) NOT NULL, "
                    "title VARCHAR(300) NOT NULL, publisher VARCHAR(200), published DATE, plan VARCHAR(64))"
                )
            )
        upgrade(url)
        assert "short_title" in {c["name"] for c in inspect(engine).get_columns("kb_source")}
        load_kb(engine, KB_DIR, SOURCES_DIR)
        with make_session_factory(engine)() as session:
            answer = answer_for(session, "peer_to_peer", {}, "when can we ask for a peer to peer")
            assert "AIM Musculoskeletal Program FAQ (002_" in render_full_text(answer) + source_line(answer)
    finally:
        engine.dispose()
