"""Where a turn's CPU goes: both servers sampled by py-spy while REST conversations run, assistant and floor.

The assistant's Rasa server and action server, and the floor's Rasa server, each get `py-spy record` (raw
collapsed stacks, the format flame-graph tools read) for one run of `CONVERSATIONS` conversations at
`CONCURRENCY` concurrent (bench/latency.py's scripts). Each process's CPU time over the run gives milliseconds
per turn; a frame's share of the process's busy samples (idle samples in the event loop left out) gives the
milliseconds per turn spent in it, callees included. Raw stacks: bench/out/profile/<system>-<process>.txt.
"""

from __future__ import annotations

import collections
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from bench.common import OUT, log
from bench.latency import conversations, cpu_seconds, run_level, warm_up

CONCURRENCY = 10
CONVERSATIONS = {"quick": 30, "full": 120}
RATE = 50  # samples a second
# The frames worth a row: where the time is spent, named as in the sources (file, function).
FRAMES = [
    ("rasa/core/processor.py", "handle_message", "a message (everything in the Rasa server)"),
    ("rasa/core/processor.py", "parse_message", "NLU pipeline"),
    ("addons/kb_entity_extractor.py", "process", "knowledge-base entity extractor"),
    ("rasa/core/processor.py", "_predict_next_with_tracker", "policies (prediction)"),
    ("rasa/core/policies/ted_policy.py", "predict_action_probabilities", "TED"),
    ("rasa/core/policies/rule_policy.py", "predict_action_probabilities", "RulePolicy"),
    ("rasa/core/actions/action.py", "run", "actions (the custom action's HTTP call included)"),
    ("rasa/core/actions/action.py", "_validate_action_result", "action response validation (Rasa's)"),
    ("addons/rasa_patches.py", "_validate_action_result", "action response validation (patched)"),
    ("rasa/utils/endpoints.py", "request", "action server request (Rasa's)"),
    ("addons/rasa_patches.py", "request", "action server request (patched)"),
    ("rasa/core/tracker_store.py", "retrieve", "tracker store: read"),
    ("rasa/core/tracker_store.py", "save", "tracker store: save"),
    ("rasa_sdk/endpoint.py", "webhook", "action server: a request"),
    ("actions/answer.py", "run", "action_answer"),
    ("priorauth/answering.py", "answer_for", "answering (query layer)"),
    ("priorauth/render.py", "render", "rendering (fact ranking included)"),
    ("priorauth/selection.py", "scores", "fact ranking (TF-IDF)"),
    ("sqlalchemy/orm/session.py", "execute", "SQLAlchemy Session.execute"),
    ("sqlalchemy/orm/session.py", "get", "SQLAlchemy Session.get"),
]


def postgres_tracker_store() -> str | None:
    """endpoints.yml's tracker_store on the test PostgreSQL (scripts/services.sh start; its env file sourced), a
    database of its own emptied first; None when that server is not running."""
    import os

    from sqlalchemy import create_engine, text

    url = os.environ.get("PRIORAUTH_TEST_TRACKER_PG_URL")
    if not url:
        return None
    engine = create_engine(url, future=True)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS events"))
    finally:
        engine.dispose()
    host, port = os.environ["PRIORAUTH_TEST_PG_HOST"], os.environ["PRIORAUTH_TEST_PG_PORT"]
    user, db = os.environ["PRIORAUTH_TEST_PG_USER"], os.environ["PRIORAUTH_TEST_TRACKER_PG_DB"]
    return f"  type: SQL\n  dialect: postgresql\n  url: {host}\n  port: {port}\n  username: {user}\n  db: {db}\n"


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed (the bench extra: requirements/bench.lock)")
    return found


def busy_shares(path: Path) -> tuple[int, dict[tuple[str, str], float]]:
    """Busy samples of a raw py-spy file and, per (file suffix, function), the share of them it is on."""
    frame = re.compile(r"^(?P<fn>.*?) \((?P<file>[^()]*?):\d+\)$")
    on: collections.Counter = collections.Counter()
    busy = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = [frame.match(f) for f in stack.split(";")]
        leaf = frames[-1]
        if leaf is not None and leaf["fn"] == "serve" and leaf["file"].endswith("sanic/server/runners.py"):
            continue  # the event loop waiting: idle
        busy += int(count)
        seen = set()
        for f in frames:
            if f is None:
                continue
            for suffix, fn, _label in FRAMES:
                if f["fn"] == fn and f["file"].endswith(suffix):
                    seen.add((suffix, fn))
        for key in seen:
            on[key] += int(count)
    return busy, {k: v / busy for k, v in on.items()} if busy else {}


def profile_system(name: str, url: str, pids: dict[str, int], quick: bool) -> dict:
    out_dir = OUT / "profile"
    out_dir.mkdir(parents=True, exist_ok=True)
    scripts = conversations()
    warm_up(url, scripts, name)
    files = {key: out_dir / f"{name}-{key}.txt" for key in pids}
    spies = [
        subprocess.Popen(
            [py_spy(), "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw", "--nonblocking"]
            + ["--output", str(files[key])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for key, pid in pids.items()
    ]
    before = cpu_seconds(pids)
    result = run_level(url, scripts, CONCURRENCY, CONVERSATIONS["quick" if quick else "full"], name)
    after = cpu_seconds(pids)
    for spy in spies:
        spy.send_signal(signal.SIGINT)
    for spy in spies:
        spy.wait(timeout=60)
    processes = {}
    for key in pids:
        ms = (after[key] - before[key]) * 1000 / max(1, result["turns"])
        busy, shares = busy_shares(files[key]) if files[key].exists() else (0, {})
        rows = [
            {"frame": f"{suffix}:{fn}", "what": label, "ms_per_turn": round(shares[(suffix, fn)] * ms, 1)}
            for suffix, fn, label in FRAMES
            if shares.get((suffix, fn), 0) * ms >= 0.1
        ]
        processes[key] = {"cpu_ms_per_turn": round(ms, 1), "busy_samples": busy, "frames": rows}
        log(f"  {name} {key}: {ms:.1f} ms CPU a turn ({busy} busy samples)")
        for row in rows:
            log(f"    {row['ms_per_turn']:6.1f} ms  {row['what']}  ({row['frame']})")
    return {"level": {k: result[k] for k in ("concurrency", "turns", "errors", "turns_per_second")}, **processes}
