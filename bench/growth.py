"""Cost of growth: the knowledge base grown 10x (synthetic procedures and codes in a temporary copy of
data/authorization), measured in-process (KBMatcher.extract, review_requirement, loading, the SQL plans of
the lookups) and through REST (training time and latency of a model and action server built on it).

Synthetic procedures are made of invented words, so they never collide with a real term; each cites its
program's own listing passage, so the reader's citation check passes on the grown copy as on the original.
"""

from __future__ import annotations

import random
import shutil
import statistics
import time
from pathlib import Path

import yaml
from sqlalchemy import text as sql

from bench.common import ROOT, load_questions, log, percentile, write_yaml

KB_DIR = ROOT / "data" / "authorization"
SOURCES = ROOT / "data" / "sources"
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ve",
    "ru",
    "zan",
    "tor",
    "qui",
    "bex",
    "dra",
    "ny",
    "sol",
    "fen",
    "gar",
    "pim",
    "vok",
    "tesh",
    "ul",
    "wre",
    "xo",
]
NOUNS = [
    "release",
    "repair",
    "fixation",
    "resection",
    "block",
    "implant",
    "ablation",
    "osteotomy",
    "reconstruction",
    "arthrolysis",
    "stabilization",
    "graft",
    "injection",
    "decompression",
]
# Procedures of these programs are copied in the grown knowledge base (musculoskeletal-heavy, like the real one).
PROGRAM_CYCLE = [
    "spine_surgery",
    "joint_surgery",
    "interventional_pain",
    "small_joint_surgery",
    "joint_surgery",
    "spine_surgery",
    "interventional_pain",
    "cardiology",
    "radiation_oncology",
    "rehabilitation",
]


def _word(rng: random.Random, used: set[str]) -> str:
    while True:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(3, 4)))
        if word not in used and len(word) >= 7:
            used.add(word)
            return word


def grow_kb(factor: int, dest: Path, seed: int = 11) -> dict:
    """Copy data/authorization to `dest` and add synthetic procedures until there are `factor` times as many
    procedures and codes (and about as many terms per procedure as the real ones have)."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(KB_DIR, dest)
    real = yaml.safe_load((KB_DIR / "procedures.yml").read_text(encoding="utf-8"))["procedures"]
    programs = {p["id"]: p for p in yaml.safe_load((KB_DIR / "programs.yml").read_text(encoding="utf-8"))["programs"]}
    real_codes = {str(c) for p in real for c in [*p.get("codes", []), *p.get("source_codes", [])]}
    question_text = " ".join(q["q"] + " " + " ".join(q.get("before", [])) for q in load_questions()).lower()
    rng = random.Random(seed)
    used = set(question_text.split())
    # As many names per procedure as the real ones have (name, synonyms, abbreviations).
    names_per_procedure = round(
        sum(1 + len(p["synonyms"]) + len(p.get("abbreviations") or []) for p in real) / len(real)
    )
    target_procedures = len(real) * factor
    target_codes = len(real_codes) * factor
    synthetic = []
    code = 10000
    codes_left = target_codes - len(real_codes)
    for i in range(target_procedures - len(real)):
        program = PROGRAM_CYCLE[i % len(PROGRAM_CYCLE)]
        cite = programs[program]["cite"]
        head, second = _word(rng, used), _word(rng, used)
        noun = NOUNS[i % len(NOUNS)]
        n_codes = round(codes_left / (target_procedures - len(real) - i))
        codes = []
        while len(codes) < n_codes:
            code += 1
            if str(code) not in real_codes and str(code) not in question_text:
                codes.append(str(code))
        codes_left -= len(codes)
        synthetic.append(
            {
                "id": f"synthetic_{i:04d}",
                "name": f"{head.capitalize()} {second} {noun}",
                "program": program,
                "synonyms": _synonyms(rng, used, head, second, noun, names_per_procedure - 2),
                "abbreviations": [(head[:2] + second[:2]).upper() + "X"],
                "codes": codes,
                "cite": cite if isinstance(cite, str) else cite[0],
            }
        )
    write_yaml(dest / "synthetic_procedures.yml", {"procedures": synthetic})
    return {
        "factor": factor,
        "procedures": len(real) + len(synthetic),
        "codes": len(real_codes) + sum(len(s["codes"]) for s in synthetic),
        "real_procedures": len(real),
        "real_codes": len(real_codes),
        "dir": str(dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest),
    }


def _synonyms(rng: random.Random, used: set[str], head: str, second: str, noun: str, n: int) -> list[str]:
    out = [
        f"{head} {noun}",
        f"{head} {second}",
        f"{second} {noun}",
        f"{head}-{second} {noun}",
        f"{head} procedure",
        f"{second} {head} {noun}",
    ]
    while len(out) < n:
        out.append(f"{_word(rng, used)} {noun}")
    return out[:n]


def grown_config(kb_dir: Path) -> Path:
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    for component in config["pipeline"]:
        if "kb_entity_extractor" in component["name"]:
            component["kb_dir"] = str(kb_dir.relative_to(ROOT))
    return write_yaml(kb_dir.parent / f"config-{kb_dir.name}.yml", config)


# ---------------------------------------------------------------------------------------------- in process
def _time_calls(fn, args_list: list, repeat: int) -> dict:
    samples = []
    for _ in range(repeat):
        for args in args_list:
            start = time.perf_counter()
            fn(*args)
            samples.append(time.perf_counter() - start)
    us = [s * 1e6 for s in samples]
    return {
        "calls": len(us),
        "mean_us": round(statistics.fmean(us), 1),
        "p50_us": round(percentile(us, 50), 1),
        "p95_us": round(percentile(us, 95), 1),
    }


def in_process(kb_dir: Path, quick: bool) -> dict:
    """Matcher build and extract, knowledge-base validation and load, review_requirement, lookup plans."""
    from priorauth.db import make_engine, make_session_factory
    from priorauth.kb.loader import dump_counts, load_kb
    from priorauth.kb.reader import read_kb
    from priorauth.kb.requirement import review_requirement
    from priorauth.nlu.matcher import KBMatcher
    from priorauth.nlu.vocabulary import vocabulary_from
    from priorauth.schema import upgrade

    repeat = 1 if quick else 3
    start = time.perf_counter()
    data = read_kb(kb_dir, SOURCES)  # validates every citation against the sources
    read_seconds = time.perf_counter() - start
    start = time.perf_counter()
    vocabulary = vocabulary_from(data)
    matcher = KBMatcher(vocabulary)
    build_seconds = time.perf_counter() - start
    texts = [t for q in load_questions() for t in [*q.get("before", []), q["q"]]]
    extract = _time_calls(matcher.extract, [(t,) for t in texts], repeat)
    phases = _extract_phases(matcher, texts, 1)
    entities = {t: [(e["entity"], e["value"]) for e in matcher.extract(t)] for t in texts}

    engine = make_engine("sqlite://")
    upgrade(engine)
    start = time.perf_counter()
    load_kb(engine, kb_dir)
    load_seconds = time.perf_counter() - start
    factory = make_session_factory(engine)
    real = yaml.safe_load((KB_DIR / "procedures.yml").read_text(encoding="utf-8"))["procedures"]
    # Procedures the sources name by a category only (MRI, CT) have no code: asked by name only.
    requests_ = [{"procedure": p["synonyms"][0]} for p in real if p.get("synonyms")]
    requests_ += [{"code": str(p["codes"][0])} for p in real if p.get("codes")]
    requests_ += [
        {"code": str(p["codes"][0]), "setting": "outpatient_hospital", "line_of_business": "aso"}
        for p in [p for p in real if p.get("codes")][:10]
    ]
    with factory() as session:
        review = _time_calls(lambda kw: review_requirement(session, **kw), [(kw,) for kw in requests_], repeat)
        statuses = [review_requirement(session, **kw).status.value for kw in requests_]
        plans = {
            "alias lookup": _plan(session, "SELECT target_id FROM kb_alias WHERE kind = 'procedure' AND term = 'x'"),
            "code lookup": _plan(session, "SELECT * FROM kb_procedure_code WHERE code = '27447'"),
            "procedures of a program": _plan(session, "SELECT * FROM kb_procedure WHERE program_id = 'spine_surgery'"),
        }
        counts = dump_counts(engine)
    engine.dispose()
    return {
        "terms": len(vocabulary["terms"]),
        "codes": len(vocabulary["codes"]),
        "rows": {k: v for k, v in counts.items() if k in ("kb_procedure", "kb_procedure_code", "kb_alias")},
        "read_and_validate_seconds": round(read_seconds, 3),
        "matcher_build_seconds": round(build_seconds, 3),
        "extract": extract,
        "extract_phases": phases,
        "_matcher": matcher,
        "load_seconds": round(load_seconds, 3),
        "review_requirement": review,
        "query_plans": plans,
        "_entities": entities,
        "_statuses": statuses,
    }


def _extract_phases(matcher, texts: list[str], repeat: int) -> dict:
    """Where extract's time goes: tokenizing, the two spaCy PhraseMatchers (indexed), the code patterns,
    and the fuzzy near-miss pass (the index of the long terms' first letters, then rapidfuzz on the terms it finds)."""
    totals = {"tokenize": 0.0, "phrase_matchers": 0.0, "code_patterns": 0.0, "fuzzy": 0.0}
    calls = 0
    try:
        for _ in range(repeat):
            for text in texts:
                calls += 1
                t0 = time.perf_counter()
                doc = matcher.nlp.make_doc(text)
                t1 = time.perf_counter()
                found = [
                    {"start": doc[start:end].start_char, "end": doc[start:end].end_char}
                    for phrase_matcher in (matcher.lower, matcher.exact)
                    for _key, start, end in phrase_matcher(doc)
                ]
                t2 = time.perf_counter()
                found += matcher._codes(text)
                t3 = time.perf_counter()
                matcher._fuzzy(doc, found)
                t4 = time.perf_counter()
                totals["tokenize"] += t1 - t0
                totals["phrase_matchers"] += t2 - t1
                totals["code_patterns"] += t3 - t2
                totals["fuzzy"] += t4 - t3
    except AttributeError:  # the matcher's internals changed: no breakdown
        return {}
    return {k: round(v / calls * 1e6, 1) for k, v in totals.items()} | {"unit": "mean us per call"}


def _plan(session, statement: str) -> str:
    rows = session.execute(sql("EXPLAIN QUERY PLAN " + statement)).all()
    return "; ".join(str(r[-1]) for r in rows)


def _warm_up() -> None:
    """First calls pay for imports, SQLAlchemy's mapper set-up and statement caches: not timed."""
    from priorauth.db import make_engine, make_session_factory
    from priorauth.kb.loader import load_kb
    from priorauth.kb.requirement import review_requirement
    from priorauth.schema import upgrade

    engine = make_engine("sqlite://")
    upgrade(engine)
    load_kb(engine, KB_DIR)
    with make_session_factory(engine)() as session:
        review_requirement(session, procedure="total knee replacement")
        review_requirement(session, code="27447", setting="outpatient_hospital", line_of_business="aso")
    engine.dispose()


# Rounds of `KBMatcher.extract` over every text, 1x and 10x alternating, the least CPU of each counted (as
# tests/unit/test_growth_guard.py does): one wall-clock pass moved by 30-50 % either way between runs.
EXTRACT_ROUNDS = 15


def least_cpu(runs: dict, rounds: int) -> dict[str, float]:
    """The least CPU seconds (`time.process_time`) of each callable over alternating rounds."""
    least = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.process_time()
            run()
            least[name] = min(least[name], time.process_time() - start)
    return least


def compare_in_process(grown: Path, quick: bool) -> dict:
    _warm_up()
    log("growth: in-process timings at 1x")
    base = in_process(KB_DIR, quick)
    log("growth: in-process timings at 10x")
    big = in_process(grown, quick)
    texts = list(base["_entities"])
    matchers = {"1x": base.pop("_matcher"), "10x": big.pop("_matcher")}
    least = least_cpu({k: (lambda m=m: [m.extract(t) for t in texts]) for k, m in matchers.items()}, EXTRACT_ROUNDS)
    for name, r in (("1x", base), ("10x", big)):
        r["extract_cpu_us"] = round(least[name] * 1e6 / len(texts), 1)
    same_entities = sum(base["_entities"][t] == big["_entities"][t] for t in texts)
    same_status = sum(a == b for a, b in zip(base["_statuses"], big["_statuses"], strict=True))
    n_requests = len(base["_statuses"])
    for r in (base, big):
        r.pop("_entities"), r.pop("_statuses")
    result = {
        "1x": base,
        "10x": big,
        "same_entities": f"{same_entities}/{len(texts)}",
        "same_review_status": f"{same_status}/{n_requests}",
    }
    log(
        f"  extract CPU {base['extract_cpu_us']} -> {big['extract_cpu_us']} us a message (least of {EXTRACT_ROUNDS} "
        f"alternating rounds); extract mean {base['extract']['mean_us']} -> {big['extract']['mean_us']} us; "
        "review_requirement mean "
        f"{base['review_requirement']['mean_us']} -> {big['review_requirement']['mean_us']} us; "
        f"same entities on {result['same_entities']} texts, same review status on {result['same_review_status']}"
    )
    return result
