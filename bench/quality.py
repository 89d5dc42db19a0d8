"""Answer quality: the question set through the assistant's REST channel, side by side with a keyword-search
baseline (BM25 over the source documents' paragraphs, best paragraph returned), both scored the same way.

A question passes when its answer contains every required fact (one phrasing of each) and no wrong one,
for questions the sources do not answer says so, and keeps to its length budget (the question's `max_chars`,
else the product rule: 900 characters for a provider, 400 for an agent's terse query). Figures come per topic,
per asker and for multi-turn conversations. `python bench/quality.py --check` validates the set:
every required fact occurs in a source document, and no question copies the training or test data.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
import unicodedata
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import requests
import yaml
from rank_bm25 import BM25Okapi

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, Progress, ask, load_questions, log, reply_text, summarize_ms  # noqa: E402
from priorauth.render import AGENT_BUDGET, HARD_LIMIT, asker_of  # noqa: E402

SOURCES = ROOT / "data" / "sources"
# Phrases by which an answer says the sources do not answer the question.
DECLINE_MARKERS = ["can't answer", "cannot answer", "don't know", "not in my knowledge base", "can't say"]
TOPIC_INTENTS = {
    "review_required": "ask_review_required",
    "program_services": "ask_program_services",
    "exclusions": "ask_exclusions",
    "notification_only": "ask_notification_only",
    "contact": "ask_contact",
    "validity": "ask_validity",
    "reconsideration": "ask_reconsideration",
    "peer_to_peer": "ask_peer_to_peer",
    "document_upload": "ask_document_upload",
    "review_process": "ask_review_process",
    "site_of_care": "ask_site_of_care",
    "registration": "ask_registration",
    "portal_features": "ask_portal_features",
    "effective_dates": "ask_effective_dates",
    "lines_of_business": "ask_lines_of_business",
    "rehab": "ask_rehab",
    "guideline_changes": "ask_guideline_changes",
    "guidelines": "ask_guidelines",
    "post_service": "ask_post_service",
    "out_of_scope": "out_of_scope",
}
QUICK_PER_TOPIC = 2
COPIED = "copies an existing phrasing"
# Fixed responses (domain.yml), recognised by a phrase of their text.
FIXED_RESPONSES = [
    ("can't answer that from my sources", "out_of_scope"),
    ("didn't quite understand", "ask_rephrase"),
    ("still not sure what you need", "offer_human"),
    ("Which procedure or CPT code is it?", "ask_which_procedure"),
]


# ------------------------------------------------------------------------------------------- scoring
def normalize(text: str) -> str:
    """Folds what differs between equal phrasings: case, spacing, curly quotes, dashes and hyphens, marks."""
    text = unicodedata.normalize("NFKC", text or "")
    for a, b in (
        ("’", "'"),
        ("‘", "'"),
        ("“", '"'),
        ("”", '"'),
        ("–", " "),
        ("—", " "),
        ("-", " "),
        ("®", ""),
        ("™", ""),
    ):
        text = text.replace(a, b)
    return re.sub(r"\s+", " ", text).strip().lower()


def alternatives(item) -> list[str]:
    return list(item) if isinstance(item, list) else [item]


def asker(question: dict) -> str:
    """Who asks: "agent" for a terse query (the renderer's rule, `priorauth.render.asker_of`), else "provider"."""
    return question.get("asker") or asker_of("rest", question["q"])


def budget(question: dict) -> int:
    """The reply's length limit: the question's own `max_chars`, else the product rule for its asker."""
    return question.get("max_chars") or (AGENT_BUDGET if asker(question) == "agent" else HARD_LIMIT)


def score(answer: str, question: dict) -> dict:
    """Which required facts are missing and which wrong ones are present, and whether the reply keeps to its
    length budget; passed when all hold."""
    text = normalize(answer)
    missing = [
        alternatives(m)[0] for m in question.get("must", []) if not any(normalize(a) in text for a in alternatives(m))
    ]
    wrong = [w for w in question.get("must_not", []) if normalize(w) in text]
    declined = any(normalize(m) in text for m in DECLINE_MARKERS)
    no_decline = bool(question.get("declines")) and not declined
    too_long = len(answer or "") > budget(question)
    return {
        "passed": not missing and not wrong and not no_decline and not too_long,
        "missing": missing,
        "wrong": wrong,
        "missing_decline": no_decline,
        "too_long": too_long,
        "chars": len(answer or ""),
    }


# ------------------------------------------------------------------------------------------- baseline
STOPWORDS = set(
    """a an the and or but if of to in on at for by with from as is are was were be been being do does did done
    doing have has had i me my we our us you your he she it its they them their this that these those what which
    who whom whose when where why how can could should would will shall may might must not no yes so than then
    there here about into over under again any all each both few more most other some such only own same too very
    just also now get got need needs needed let lets s t im ive youre""".split()
)


def tokens(text: str) -> list[str]:
    out = []
    for token in re.findall(r"[a-z0-9]+", normalize(text).replace("/", " ")):
        if token in STOPWORDS:
            continue
        if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
            token = token[:-1]  # a light plural fold: "injections" finds "injection"
        out.append(token)
    return out


def source_paragraphs(sources: Path = SOURCES) -> list[dict]:
    """The source documents' paragraphs: blocks between blank lines, where a heading, a question or a line
    ending in ':' joins the block after it, a run of bullet blocks stays one paragraph, and a list introduced
    by ':' keeps its headed sub-lists (e.g. "the following modalities:" with its spine, joint and pain lists)."""
    paragraphs = []
    for path in sorted(sources.glob("*.txt")):
        blocks = [b.strip() for b in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")) if b.strip()]
        merged: list[str] = []
        joins_next = False
        for i, block in enumerate(blocks):
            lines = block.splitlines()
            last = lines[-1].strip()
            heading = len(lines) == 1 and len(last.split()) <= 15 and not last.endswith((".", "!"))
            current = merged[-1].splitlines() if merged else [""]
            in_list = _is_bullet(current[-1]) and any(line.rstrip().endswith(":") for line in current)
            follows_list = _is_bullet(block) and _is_bullet(current[-1])
            sub_list = (
                in_list and heading and not last.endswith(":") and i + 1 < len(blocks) and _is_bullet(blocks[i + 1])
            )
            if merged and (joins_next or follows_list or sub_list):
                merged[-1] += "\n" + block
            else:
                merged.append(block)
            joins_next = last.endswith(":") or (heading and not _is_bullet(block))
        paragraphs += [{"source": path.name[:3], "text": text} for text in merged]
    return paragraphs


def _is_bullet(text: str) -> bool:
    return text.lstrip().startswith("•")


class KeywordSearch:
    """BM25 (rank-bm25's Okapi) over the source paragraphs; answers with the best-scoring paragraph."""

    def __init__(self, sources: Path = SOURCES):
        self.paragraphs = source_paragraphs(sources)
        self.bm25 = BM25Okapi([tokens(p["text"]) for p in self.paragraphs])

    def answer(self, query: str) -> str:
        scores = self.bm25.get_scores(tokens(query))
        best = max(range(len(scores)), key=lambda i: scores[i])
        return self.paragraphs[best]["text"]


# ------------------------------------------------------------------------------------------- checks
def check_questions(questions: list[dict]) -> list[str]:
    """Problems with the set: facts not in the sources, copied phrasings, bad fields."""
    problems = []
    corpus = normalize("\n".join(p.read_text(encoding="utf-8") for p in sorted(SOURCES.glob("*.txt"))))
    seen: set[str] = set()
    copied = _existing_phrasings()
    for q in questions:
        qid = q.get("id", "?")
        for key in ("id", "topic", "q"):
            if not q.get(key):
                problems.append(f"{qid}: missing '{key}'")
        if q.get("topic") not in TOPIC_INTENTS:
            problems.append(f"{qid}: unknown topic {q.get('topic')!r}")
        if qid in seen:
            problems.append(f"{qid}: duplicate id")
        seen.add(qid)
        if not q.get("must"):
            problems.append(f"{qid}: no required fact")
        for fact in q.get("must", []):
            if not any(normalize(a) in corpus for a in alternatives(fact)):
                problems.append(f"{qid}: required fact not in the sources: {fact!r}")
        for text in [*q.get("before", []), q.get("q", "")]:
            if _plain(text) in copied:
                problems.append(f"{qid}: {COPIED}: {text!r}")
    return problems


def _plain(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", normalize(text)).strip()


def _existing_phrasings() -> set[str]:
    """Every NLU example of the training data and the tests, and every quoted string of the tests."""
    out = set()
    for path in [*(ROOT / "data" / "nlu").glob("*.yml"), *(ROOT / "tests").rglob("*.yml")]:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu", []) or []:
            for line in str(block.get("examples", "")).splitlines():
                out.add(_plain(line.strip().lstrip("-").strip()))
        for story in (data.get("stories", []) or []) + (data.get("rules", []) or []):
            for step in story.get("steps", []) or []:
                if isinstance(step, dict) and step.get("user"):
                    out.add(_plain(step["user"]))
    for path in (ROOT / "tests").rglob("*.py"):
        for quoted in re.findall(r"\"([^\"\n]{8,})\"|'([^'\n]{8,})'", path.read_text(encoding="utf-8")):
            out.add(_plain(quoted[0] or quoted[1]))
    out.discard("")
    return out


def select(questions: list[dict], quick: bool) -> list[dict]:
    if not quick:
        return questions
    per_topic: Counter = Counter()
    chosen = []
    for q in questions:
        if per_topic[q["topic"]] < QUICK_PER_TOPIC:
            chosen.append(q)
            per_topic[q["topic"]] += 1
    return chosen


# ------------------------------------------------------------------------------------------- the run
def run(url: str, quick: bool = False, questions: list[dict] | None = None) -> tuple[dict, list[dict]]:
    """Ask every question through REST (a fresh conversation each, with its earlier turns) and BM25."""
    questions = select(questions or load_questions(), quick)
    problems = check_questions(questions)
    copied = {p.split(":", 1)[0] for p in problems if COPIED in p}
    if copied:
        # The training data or the tests now hold one of these phrasings: it is no longer held out.
        log(f"  skipping {len(copied)} question(s) whose phrasing is now in data/nlu or tests: {sorted(copied)}")
        questions = [q for q in questions if q["id"] not in copied]
    problems = [p for p in problems if COPIED not in p]
    if problems:
        raise SystemExit("the question set is invalid:\n  " + "\n  ".join(problems))
    search = KeywordSearch()
    run_id = uuid.uuid4().hex[:6]
    http = requests.Session()
    details, latencies = [], []
    progress = Progress("questions", len(questions))
    for q in questions:
        sender = f"quality-{q['id']}-{run_id}"
        for earlier in q.get("before", []):
            ask(http, url, sender, earlier)
        start = time.monotonic()
        try:
            replies = ask(http, url, sender, q["q"])
            error = None
        except requests.RequestException as exc:
            replies, error = [], type(exc).__name__
        latencies.append(time.monotonic() - start)
        answer = reply_text(replies)
        baseline = search.answer(" ".join([*q.get("before", []), q["q"]]))
        expected_intent = "inform" if q.get("before") else TOPIC_INTENTS[q["topic"]]
        details.append(
            {
                "id": q["id"],
                "topic": q["topic"],
                "q": q["q"],
                "before": q.get("before", []),
                "asker": asker(q),
                "expected_intent": expected_intent,
                "answered_as": _answered_as(replies),
                "assistant": {"answer": answer, "error": error, **score(answer, q)},
                "bm25": {"answer": baseline, **score(baseline, q)},
            }
        )
        progress.step()
    summary = summarize(details, latencies)
    summary["skipped_as_copied"] = sorted(copied)
    return summary, details


def _char_figures(lengths: list[int]) -> dict:
    ordered = sorted(lengths)
    return {
        "median": statistics.median(ordered) if ordered else 0,
        "p90": ordered[int(0.9 * (len(ordered) - 1))] if ordered else 0,
        "max": ordered[-1] if ordered else 0,
    }


def _answered_as(replies: list[dict]) -> str:
    """What the assistant answered: the topic of its structured payload, or which fixed response it gave."""
    for message in replies:
        custom = message.get("custom")
        if isinstance(custom, dict) and custom.get("topic"):
            return custom["topic"]
    text = reply_text(replies)
    for marker, kind in FIXED_RESPONSES:
        if marker in text:
            return kind
    return "other" if text else "no reply"


def summarize(details: list[dict], latencies: list[float]) -> dict:
    by_topic: dict[str, dict] = defaultdict(lambda: {"n": 0, "assistant": 0, "bm25": 0})
    for d in details:
        t = by_topic[d["topic"]]
        t["n"] += 1
        t["assistant"] += d["assistant"]["passed"]
        t["bm25"] += d["bm25"]["passed"]
    n = len(details)
    groups: dict[str, list[dict]] = defaultdict(list)
    for d in details:
        groups["asker: " + d.get("asker", "provider")].append(d)
        groups["multi-turn" if d.get("before") else "single turn"].append(d)
    return {
        "n_questions": n,
        "by_asker_and_turns": {
            name: {
                "n": len(group),
                "assistant": round(sum(d["assistant"]["passed"] for d in group) / len(group), 3),
                "median_chars": statistics.median(d["assistant"]["chars"] for d in group),
                "too_long": sum(d["assistant"]["too_long"] for d in group),
            }
            for name, group in sorted(groups.items())
        },
        "reply_chars": _char_figures([d["assistant"]["chars"] for d in details]),
        "assistant_accuracy": round(sum(d["assistant"]["passed"] for d in details) / n, 3),
        "bm25_accuracy": round(sum(d["bm25"]["passed"] for d in details) / n, 3),
        "assistant_passed": sum(d["assistant"]["passed"] for d in details),
        "bm25_passed": sum(d["bm25"]["passed"] for d in details),
        "by_topic": {
            topic: {
                "n": t["n"],
                "assistant": round(t["assistant"] / t["n"], 3),
                "bm25": round(t["bm25"] / t["n"], 3),
            }
            for topic, t in sorted(by_topic.items())
        },
        "assistant_failures": [
            {
                "id": d["id"],
                "answered_as": d["answered_as"],
                "missing": d["assistant"]["missing"],
                "wrong": d["assistant"]["wrong"],
                "missing_decline": d["assistant"]["missing_decline"],
                "too_long": d["assistant"]["too_long"],
            }
            for d in details
            if not d["assistant"]["passed"]
        ],
        "errors": sum(
            1
            for d in details
            if d["assistant"]["error"]
            or not d["assistant"]["answer"]
            or "temporarily unavailable" in d["assistant"]["answer"]
        ),
        "sequential_latency": summarize_ms(latencies),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="validate the question set and exit")
    parser.add_argument("--bm25", metavar="QUESTION", help="print the baseline's answer to a question")
    args = parser.parse_args()
    if args.bm25:
        print(KeywordSearch().answer(args.bm25))
        return 0
    questions = load_questions()
    problems = check_questions(questions)
    for problem in problems:
        print(problem)
    topics = Counter(q["topic"] for q in questions)
    log(f"{len(questions)} questions, {len(topics)} topics; {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
