"""Loads validated knowledge-base records into SQL tables, in one transaction.

Loading is idempotent: the data's content hash is stored, and a load of unchanged data changes
nothing; changed data replaces the knowledge-base tables wholesale (drafts are untouched). The tables
must exist: the migrations make them (`priorauth.schema.upgrade`).
"""

from __future__ import annotations

import hashlib
from itertools import groupby
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from priorauth.codes import kind_of
from priorauth.db import Base
from priorauth.kb import models as m
from priorauth.kb.queries import stored_content_hash
from priorauth.kb.reader import KBData, iter_cites, parse_cites, read_kb
from priorauth.kb.terms import normalize_term

HASH_KEY = m.CONTENT_HASH_KEY


def content_hash(kb_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(kb_dir).glob("*.yml")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_kb(engine: Engine, kb_dir: Path, sources_dir: Path | None = None) -> bool:
    """Validate and load ``kb_dir`` into a database at the newest schema; return True when the tables changed."""
    data = read_kb(kb_dir, sources_dir)
    digest = content_hash(kb_dir)
    with Session(engine, future=True) as session, session.begin():
        current = stored_content_hash(session)
        if current == digest:
            return False
        for table in m.KB_TABLES:
            session.execute(delete(table))
        order = {t.name: i for i, t in enumerate(Base.metadata.sorted_tables)}
        records = sorted(records_for(data), key=lambda r: order[r.__table__.name])
        # One table at a time, parents first, so foreign keys hold on every database.
        for _table, group in groupby(records, key=lambda r: r.__table__.name):
            session.add_all(list(group))
            session.flush()
        session.add(m.Meta(key=HASH_KEY, value=digest))
    return True


def _codes(record: dict, key: str) -> list[str]:
    return [str(c) for c in record.get(key) or []]


def records_for(data: KBData):  # noqa: C901 - one mapping per section, kept together for reading
    for r in data.get("sources"):
        yield m.Source(
            id=r["id"],
            file=r["file"],
            title=r["title"],
            short_title=r["short_title"],
            publisher=r["publisher"],
            published=r.get("published"),
            plan=r["plan"],
        )
    for r in data.get("plans"):
        yield m.Plan(
            id=r["id"],
            name=r["name"],
            short_name=r.get("short_name"),
            region=r.get("region"),
            covers=r.get("covers") or [],
        )
        yield from _aliases("plan", r["id"], [r["name"], *r["synonyms"]])
    # Parents before children, so foreign keys hold on PostgreSQL too.
    for r in sorted(data.get("programs"), key=lambda p: _depth(data, p)):
        yield m.Program(
            id=r["id"],
            name=r["name"],
            parent_id=r.get("parent"),
            inpatient=r["inpatient"],
            effective_from=r.get("effective_from"),
            requests_accepted_from=r.get("requests_accepted_from"),
            examples=r.get("examples") or [],
        )
        yield from _aliases("program", r["id"], [r["name"], *r["synonyms"], *(r.get("abbreviations") or [])])
    for r in data.get("procedures"):
        yield m.Procedure(id=r["id"], name=r["name"], program_id=r["program"])
        if r.get("named_by_category"):
            yield m.ProcedureReading(procedure_id=r["id"], category=r["named_by_category"])
        yield from _aliases("procedure", r["id"], [r["name"], *r["synonyms"], *(r.get("abbreviations") or [])])
        for code in _codes(r, "codes"):
            yield m.ProcedureCode(code=code, system=kind_of(code), procedure_id=r["id"], provenance="named_procedure")
        for code in _codes(r, "source_codes"):
            yield m.ProcedureCode(code=code, system=kind_of(code), procedure_id=r["id"], provenance="source")
    for r in data.get("diagnoses"):
        yield m.Diagnosis(code=r["code"], name=r["name"])
    for r in data.get("settings"):
        yield m.Setting(id=r["id"], name=r["name"], pos=str(r["pos"]), requestable=r.get("requestable", True))
        yield from _aliases("setting", r["id"], [r["name"], *r["synonyms"]])
    for r in data.get("presentations"):
        yield m.Presentation(id=r["id"], name=r["name"])
        yield from _aliases("presentation", r["id"], [r["id"], *r["synonyms"]])
    for r in data.get("ambiguous_terms"):
        yield m.AmbiguousTerm(term=normalize_term(r["term"]), kind=r["kind"], candidates=r["candidates"])
    for r in data.get("lines_of_business"):
        yield m.LineOfBusiness(id=r["id"], name=r["name"], may_mean=r.get("may_mean") or [], part_of=r.get("part_of"))
        yield from _aliases("line_of_business", r["id"], [r["name"], *r["synonyms"]])
    for r in data.get("line_of_business_scope"):
        yield m.LineOfBusinessScope(
            id=r["id"],
            source_id=r["source"],
            plan=r["plan"],
            programs=r["programs"],
            included=r.get("included") or [],
            excluded=r.get("excluded") or [],
            offered=r.get("offered") or [],
            note=r.get("note"),
        )
    for r in data.get("states"):
        yield m.State(id=r["id"], name=r["name"])
        yield from _aliases("state", r["id"], [r["name"]])
    for r in data.get("rules"):
        yield m.Rule(
            id=r["id"],
            kind=r["kind"],
            programs=r.get("programs") or [],
            settings=r.get("settings") or [],
            presentations=r.get("presentations") or [],
            codes=_codes(r, "codes"),
            diagnoses=r.get("diagnoses") or [],
            conditions=r.get("conditions") or [],
            plan=r["plan"],
            text=r["text"].strip(),
            effective_from=r.get("effective_from"),
            requests_accepted_from=r.get("requests_accepted_from"),
        )
    for r in data.get("rehab_schedule"):
        yield m.RehabSchedule(
            id=r["id"],
            program_id=r["program"],
            plan=r["plan"],
            line_of_business=r["line_of_business"],
            states=r["states"],
            except_states=r.get("except_states") or [],
            not_required_until=r.get("not_required_until"),
            starts=r.get("starts"),
            possible_starts=[d.isoformat() for d in r.get("possible_starts") or []],
            targeted=r.get("targeted"),
            text=r["text"].strip(),
        )
    for r in data.get("contacts"):
        yield m.Contact(
            id=r["id"],
            kind=r["kind"],
            name=r["name"],
            value=r["value"],
            availability=r.get("availability"),
            days=r.get("days"),
            hours=r.get("hours"),
            time_zone=r.get("time_zone"),
            time_zone_note=r.get("time_zone_note"),
            plan=r["plan"],
            region=r.get("region"),
            programs=r["programs"],
            note=_strip(r.get("note")),
        )
    for r in data.get("validity"):
        yield m.Validity(id=r["id"], programs=r["programs"], days=r["days"], unit=r["unit"], text=r["text"])
    caveats = data.get("validity_caveats")
    if caveats:
        yield m.Topic(id="validity_caveats", title="Approval validity caveats", plan="any_plan", programs=[])
        for i, r in enumerate(caveats):
            yield m.TopicFact(topic_id="validity_caveats", position=i, key=r.get("key"), text=r["text"])
    for r in data.get("topics"):
        yield m.Topic(id=r["id"], title=r["title"], plan=r["plan"], programs=r["programs"])
        for i, fact in enumerate(r["facts"]):
            yield m.TopicFact(topic_id=r["id"], position=i, key=fact.get("key"), text=fact["text"].strip())
    # The decision's caveats: facts of one topic, each asked for by its id.
    positions = {r["id"]: i for i, r in enumerate(data.get("caveats"))}
    if positions:
        yield m.Topic(id=m.CAVEATS_TOPIC, title="Caveats of the review decision", plan="any_plan", programs=[])
        for r in data.get("caveats"):
            yield m.TopicFact(
                topic_id=m.CAVEATS_TOPIC, position=positions[r["id"]], key=r["id"], text=r["text"].strip()
            )
    for record_type, record_id, _record, value in iter_cites(data):
        if record_type == "validity_caveats":
            record_type, record_id = "topic_fact", "validity_caveats#" + record_id.rsplit("-", 1)[1]
        elif record_type == "caveats":
            record_type, record_id = "topic_fact", f"{m.CAVEATS_TOPIC}#{positions[record_id]}"
        for position, cite in enumerate(parse_cites(value)):
            yield m.Citation(
                record_type=record_type,
                record_id=record_id,
                position=position,
                source_id=cite.source_id,
                quote=cite.quote,
            )


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _depth(data: KBData, program: dict) -> int:
    programs, depth = data.by_id("programs"), 0
    while program.get("parent"):
        program, depth = programs[program["parent"]], depth + 1
    return depth


def _aliases(kind: str, target: str, names: list[str]):
    seen = set()
    for name in names:
        term = normalize_term(str(name))
        if term and term not in seen:
            seen.add(term)
            yield m.Alias(term=term, kind=kind, target_id=target)


def dump_counts(engine: Engine) -> dict[str, int]:
    from sqlalchemy import func

    with Session(engine, future=True) as session:
        return {t.__tablename__: session.execute(select(func.count()).select_from(t)).scalar() for t in m.KB_TABLES}
