"""NLU: `rasa test nlu` cross-validation of config.yml on data/nlu (intent accuracy, macro F1, the worst
confusion pairs), and entity precision/recall/F1 of the knowledge-base entity extractor.

The training data carries no entity annotations (entities come from the knowledge-base matcher, which
learns nothing from a fold), so cross-validation has no gold entities to score. Entity F1 is measured
instead on the hand-labelled `entities` of bench/questions.yml, with the same matcher the Rasa component
runs (priorauth.nlu.matcher.KBMatcher built from data/authorization/).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections import Counter, defaultdict

from bench.common import OUT, ROOT, VENV_BIN, base_env, load_questions, log

FOLDS = {"quick": 2, "full": 5}
# Logged once per fold, when its model is trained.
FOLD_MARKER = "Your Rasa model is trained and saved"


def cross_validate(quick: bool) -> dict:
    folds = FOLDS["quick" if quick else "full"]
    out = OUT / "nlu" / f"cv-{folds}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    log_file = OUT / "logs" / "nlu-cv.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = base_env()
    env.update(RASA_MAX_CACHE_SIZE="0", RASA_CACHE_DIRECTORY=str(OUT / "tmp" / "rasa-cache-cv"))
    args = [
        str(VENV_BIN / "rasa"),
        "test",
        "nlu",
        "--nlu",
        "data/nlu",
        "--config",
        "config.yml",
        "--domain",
        "domain.yml",
        "--cross-validation",
        "--folds",
        str(folds),
        "--out",
        str(out),
        "--no-plot",
    ]
    log(f"NLU cross-validation, {folds} folds (each fold trains the NLU pipeline; log: {log_file.relative_to(ROOT)})")
    start = time.monotonic()
    with open(log_file, "wb") as handle:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
        last = start
        while proc.poll() is None:
            time.sleep(2)
            if time.monotonic() - last >= 30:
                last = time.monotonic()
                folds_done = log_file.read_text(errors="replace").count(FOLD_MARKER)
                log(f"  cross-validation running: {int(last - start)} s, {folds_done}/{folds} folds trained")
    seconds = round(time.monotonic() - start, 1)
    if proc.returncode != 0:
        raise RuntimeError(f"rasa test nlu failed; see {log_file}")
    report = json.loads((out / "intent_report.json").read_text())
    errors_file = out / "intent_errors.json"
    errors = json.loads(errors_file.read_text()) if errors_file.exists() else []
    pairs = Counter((e["intent"], e["intent_prediction"]["name"]) for e in errors)
    support = sum(
        v["support"]
        for k, v in report.items()
        if isinstance(v, dict) and "support" in v and k not in ("macro avg", "weighted avg", "micro avg")
    )
    per_intent = {
        k: round(v["f1-score"], 3)
        for k, v in report.items()
        if isinstance(v, dict) and "support" in v and k not in ("macro avg", "weighted avg", "micro avg")
    }
    result = {
        "folds": folds,
        "examples": support,
        "intents": len(per_intent),
        "intent_accuracy": round(report["accuracy"], 3),
        "intent_macro_f1": round(report["macro avg"]["f1-score"], 3),
        "intent_weighted_f1": round(report["weighted avg"]["f1-score"], 3),
        "per_fold": _fold_stats(log_file.read_text(errors="replace")),
        "worst_intents": sorted(per_intent.items(), key=lambda kv: kv[1])[:5],
        "worst_confusions": [
            {
                "intent": a,
                "predicted": b,
                "count": n,
                "examples": [e["text"] for e in errors if e["intent"] == a and e["intent_prediction"]["name"] == b][:2],
            }
            for (a, b), n in pairs.most_common(8)
        ],
        "seconds": seconds,
        "report_dir": str(out.relative_to(ROOT)),
    }
    log(f"  intent accuracy {result['intent_accuracy']}, macro F1 {result['intent_macro_f1']} ({seconds} s)")
    return result


def _fold_stats(text: str) -> dict:
    """Mean (std) over folds, as `rasa test nlu` logs them: `test Accuracy: 0.912 (0.011)`."""
    out = {}
    for dataset, metric, mean, std in re.findall(
        r"(train|test) (Accuracy|F1-score|Precision): ([\d.]+) \(([\d.]+)\)", text
    ):
        out.setdefault(f"{dataset}_{metric.lower().replace('-score', '')}", {"mean": float(mean), "std": float(std)})
    return out


def entity_scores(kb_dir=None) -> dict:
    """Micro and per-type precision/recall/F1 of the knowledge-base matcher on the labelled question set."""
    from priorauth.nlu.matcher import KBMatcher
    from priorauth.nlu.vocabulary import build_vocabulary

    matcher = KBMatcher(build_vocabulary(kb_dir or ROOT / "data" / "authorization"))
    tp: Counter = Counter()
    fp: Counter = Counter()
    fn: Counter = Counter()
    misses = []
    labelled = [q for q in load_questions() if "entities" in q]
    for q in labelled:
        gold = {(k, str(v)) for k, vs in (q["entities"] or {}).items() for v in (vs if isinstance(vs, list) else [vs])}
        found = {(e["entity"], str(e["value"])) for e in matcher.extract(q["q"])}
        for pair in found & gold:
            tp[pair[0]] += 1
        for pair in found - gold:
            fp[pair[0]] += 1
        for pair in gold - found:
            fn[pair[0]] += 1
        if found != gold:
            misses.append({"id": q["id"], "q": q["q"], "missing": sorted(gold - found), "extra": sorted(found - gold)})
    per_type = defaultdict(dict)
    for label in sorted(set(tp) | set(fp) | set(fn)):
        per_type[label] = _prf(tp[label], fp[label], fn[label])
    micro = _prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    log(f"  entity F1 (knowledge-base matcher, {len(labelled)} labelled questions): {micro['f1']}")
    return {"questions": len(labelled), "micro": micro, "per_type": dict(per_type), "errors": misses}


def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3), "support": tp + fn}


def question_set_intents(model) -> dict:
    """Intent accuracy of the trained model on the question set (new phrasings, not in the training data)."""
    import asyncio
    import logging
    import warnings

    import structlog
    from rasa.core.agent import Agent

    from bench.quality import TOPIC_INTENTS

    log(f"intent accuracy on the question set with {model.name} (in-process)")
    # Rasa's message-level debug events go through structlog: keep the console to progress lines.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("rasa").setLevel(logging.WARNING)
    questions = load_questions()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agent = Agent.load(str(model))

        async def parse_all():
            return [await agent.parse_message(q["q"]) for q in questions]

        parsed = asyncio.run(parse_all())
    rows = []
    for q, p in zip(questions, parsed, strict=True):
        expected = "inform" if q.get("before") else TOPIC_INTENTS[q["topic"]]
        rows.append((q["id"], expected, (p.get("intent") or {}).get("name")))
    correct = sum(e == g for _, e, g in rows)
    pairs = Counter((e, g) for _, e, g in rows if e != g)
    result = {
        "questions": len(rows),
        "intent_accuracy": round(correct / len(rows), 3),
        "worst_confusions": [{"intent": a, "predicted": b, "count": n} for (a, b), n in pairs.most_common(8)],
        "errors": [{"id": i, "intent": e, "predicted": g} for i, e, g in rows if e != g],
    }
    log(f"  intent accuracy on the question set: {result['intent_accuracy']} ({correct}/{len(rows)})")
    return result


def run(quick: bool, model=None) -> dict:
    result = {"cross_validation": cross_validate(quick), "entities": entity_scores()}
    if model is not None:
        result["question_set"] = question_set_intents(model)
    return result
