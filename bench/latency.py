"""Latency and throughput through the REST channel, side by side with the framework floor.

Conversations of a few turns (real questions from bench/questions.yml, follow-ups included) run at 1, 10
and 50 concurrent conversations against the assistant (Rasa server + action server + knowledge-base
database + SQLite tracker store) and against the floor (the same config.yml on a two-intent toy domain
with no custom actions, same endpoints). Levels alternate between the two systems so that both see the
same background load. An empty reply `[]`, a "temporarily unavailable" reply, an HTTP error (a 429 of the rate
limiter included) or a timeout counts as an error.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from pathlib import Path

import requests
import yaml

from bench.common import (
    BENCH,
    OUT,
    ROOT,
    Progress,
    ask,
    load_questions,
    log,
    reply_text,
    summarize_ms,
    train_model,
)

FLOOR_DIR = BENCH / "floor"
LEVELS = {"quick": [1, 10], "full": [1, 10, 50]}
# Conversations per level (each 3-4 turns).
CONVERSATIONS = {"quick": {1: 8, 10: 30}, "full": {1: 30, 10: 80, 50: 200}}
TURNS_PER_CONVERSATION = 4
WARM_UP_SCRIPTS = 20  # about 70 turns, one to a few seconds a system
# A reply saying that a backend failed (utter_service_unavailable, addons/rasa_patches.py) is an error too.
FAILURE_MARKERS = ["temporarily unavailable"]


def conversations(seed: int = 7) -> list[list[str]]:
    """Conversation scripts from the question set: a follow-up with its earlier turns, or 4 questions."""
    questions = load_questions()
    rng = random.Random(seed)
    followups = [[*q["before"], q["q"]] for q in questions if q.get("before")]
    singles = [q["q"] for q in questions if not q.get("before")]
    rng.shuffle(singles)
    scripts = [singles[i : i + TURNS_PER_CONVERSATION] for i in range(0, len(singles), TURNS_PER_CONVERSATION)]
    scripts = [s for s in scripts if len(s) >= 3] + followups
    rng.shuffle(scripts)
    return scripts


def floor_config() -> Path:
    """config.yml minus the knowledge-base extractor; the rule fallback runs Rasa's default action."""
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    config["pipeline"] = [c for c in config["pipeline"] if "kb_entity_extractor" not in c["name"]]
    for policy in config["policies"]:
        if policy.get("name") == "RulePolicy" and "core_fallback_action_name" in policy:
            policy["core_fallback_action_name"] = "action_default_fallback"
    config["assistant_id"] = "framework-floor"
    path = OUT / "floor" / "config.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def train_floor(reuse: bool) -> dict:
    return train_model(
        "floor",
        floor_config(),
        FLOOR_DIR / "domain.yml",
        [FLOOR_DIR / "data"],
        reuse=reuse,
    )


def run_level(url: str, scripts: list[list[str]], concurrency: int, n_conversations: int, label: str) -> dict:
    """`concurrency` workers run `n_conversations` conversations between them, each with a fresh sender."""
    run_id = uuid.uuid4().hex[:6]
    lock = threading.Lock()
    next_index = [0]
    latencies: list[float] = []
    errors: list[str] = []
    total_turns = sum(len(scripts[i % len(scripts)]) for i in range(n_conversations))
    progress = Progress(f"{label} c={concurrency} turns", total_turns, every=max(10, total_turns // 5))

    def worker(worker_id: int) -> None:
        http = requests.Session()
        while True:
            with lock:
                index = next_index[0]
                if index >= n_conversations:
                    return
                next_index[0] += 1
            script = scripts[index % len(scripts)]
            sender = f"load-{label}-{concurrency}-{run_id}-{index}"
            for text in script:
                start = time.monotonic()
                error = None
                try:
                    replies = ask(http, url, sender, text, timeout=120)
                    if not replies:
                        error = "empty reply []"
                    elif any(m in reply_text(replies) for m in FAILURE_MARKERS):
                        error = "service unavailable reply"
                except requests.RequestException as exc:
                    error = type(exc).__name__
                elapsed = time.monotonic() - start
                with lock:
                    latencies.append(elapsed)
                    if error:
                        errors.append(error)
                progress.step()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    result = {
        "concurrency": concurrency,
        "conversations": n_conversations,
        "turns": len(latencies),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "wall_seconds": round(wall, 2),
        "turns_per_second": round(len(latencies) / wall, 2) if wall else None,
        **summarize_ms(latencies),
    }
    log(
        f"  {label:9} c={concurrency:<3} p50 {result['p50_ms']} ms  p95 {result['p95_ms']} ms  "
        f"p99 {result['p99_ms']} ms  {result['turns_per_second']} turns/s  errors {result['errors']}"
    )
    return result


def warm_up(url: str, scripts: list[list[str]], label: str) -> None:
    """Conversations before any timing, so that what a server does once is not timed: TF graphs traced for
    new input shapes, and the knowledge-base rows the action server reads once and keeps (priorauth.kb.reading;
    a long-running server holds all of them, the knowledge base being a few hundred rows)."""
    http = requests.Session()
    for i, script in enumerate(scripts[:WARM_UP_SCRIPTS]):
        for text in script:
            ask(http, url, f"warmup-{label}-{i}-{uuid.uuid4().hex[:4]}", text, timeout=180)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds so far of each process (its children included)."""
    import psutil  # the bench extra

    out = {}
    for key, pid in pids.items():
        try:
            proc = psutil.Process(pid)
            out[key] = sum(sum(p.cpu_times()[:2]) for p in [proc, *proc.children(recursive=True)])
        except psutil.Error:
            continue
    return out


def compare(
    systems: dict[str, str], quick: bool, levels: list[int] | None = None, pids: dict[str, dict[str, int]] | None = None
) -> dict:
    """Run every level on every system (name -> REST base URL), alternating the order per level. With `pids`
    (name -> process name -> pid), each level also gets the CPU milliseconds per turn of each process."""
    mode = "quick" if quick else "full"
    levels = levels or LEVELS[mode]
    scripts = conversations()
    for name, url in systems.items():
        warm_up(url, scripts, name)
    results: dict[str, list[dict]] = {name: [] for name in systems}
    names = list(systems)
    for i, level in enumerate(levels):
        order = names if i % 2 == 0 else list(reversed(names))
        for name in order:
            n = CONVERSATIONS[mode].get(level) or CONVERSATIONS["full"][level]
            before = cpu_seconds((pids or {}).get(name, {}))
            result = run_level(systems[name], scripts, level, n, name)
            if before:
                after = cpu_seconds(pids[name])
                result["cpu_ms_per_turn"] = {
                    k: round((after[k] - before[k]) * 1000 / max(1, result["turns"]), 1) for k in before if k in after
                }
                log(f"  {name:9} c={level:<3} CPU per turn: {result['cpu_ms_per_turn']} ms")
            results[name].append(result)
    return results


def ratios(ours: list[dict], floor: list[dict]) -> list[dict]:
    out = []
    for a, b in zip(ours, floor, strict=True):
        out.append(
            {
                "concurrency": a["concurrency"],
                "p50_ratio": _ratio(a["p50_ms"], b["p50_ms"]),
                "p95_ratio": _ratio(a["p95_ms"], b["p95_ms"]),
                "throughput_ratio": _ratio(a["turns_per_second"], b["turns_per_second"]),
            }
        )
    return out


def _ratio(a, b):
    return round(a / b, 2) if a is not None and b else None
