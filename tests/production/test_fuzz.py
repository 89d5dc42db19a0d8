"""Fuzz the REST webhook of both replicas (and the front): a few thousand odd texts, broken envelopes and
broken bodies. No 5xx; malformed requests get a 4xx from the request guard; no traceback reaches a
user; nothing from a refused request is stored; every process stays up and still answers correctly."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import create_engine, text

from tests.production.cluster import add_figures
from tests.production.conversations import check_reply
from tests.production.fuzz_inputs import Case, cases

N_TEXTS = int(os.environ.get("PRIORAUTH_FUZZ_TEXTS", "1500"))
SEED = int(os.environ.get("PRIORAUTH_FUZZ_SEED", "20201101"))
LEAKS = ("Traceback", 'File "', "sqlalchemy", "psycopg2", "Exception", "rasa.core", "site-packages")


def drafts_by(url: str, owner_like: str) -> int:
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            query = text("SELECT count(*) FROM drafts WHERE owner LIKE :o")
            return int(conn.execute(query, {"o": owner_like}).scalar())
    finally:
        engine.dispose()


def test_fuzz_the_webhook(live):
    all_cases = cases(SEED, N_TEXTS, live.sender)
    kb_url = live.db_url(live.kb_db)
    others_before = drafts_by(kb_url, "%") - drafts_by(kb_url, "fz-%")
    bases = [live.replica_url(1), live.replica_url(2)]
    local = threading.local()

    def send(indexed: tuple[int, Case]) -> tuple[Case, int, str, object, str]:
        i, case = indexed
        base = live.front if i % 10 == 0 else bases[i % 2]
        http = local.__dict__.setdefault("session", requests.Session())
        headers = {"Content-Type": "application/json"} if i % 3 else {}
        try:
            response = http.request(case.method, base + case.path, data=case.body, headers=headers, timeout=180)
        except requests.RequestException as exc:
            return case, 0, f"request failed: {type(exc).__name__}", None, base
        try:
            body = response.json()
        except ValueError:
            body = None
        return case, response.status_code, response.text, body, base

    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, enumerate(all_cases)))
    elapsed = time.monotonic() - t0

    failures, statuses, silent = [], Counter(), 0
    for case, status, raw, body, base in results:
        statuses[status // 100 * 100 if status else 0] += 1
        where = f"[{case.kind}/{case.label}] {case.method} {case.path} via {'front' if base == live.front else base}"
        leaked = [marker for marker in LEAKS if marker in raw]
        if status == 0 or status >= 500:
            failures.append(f"{where}: HTTP {status} {raw[:200]!r}")
        elif leaked:
            failures.append(f"{where}: response shows {leaked}: {raw[:200]!r}")
        elif case.refused:
            if not 400 <= status < 500:
                failures.append(f"{where}: expected a 4xx, got {status} {raw[:200]!r}")
        elif status != 200 or not isinstance(body, list):
            failures.append(f"{where}: expected 200 and a list, got {status} {raw[:200]!r}")
        else:
            texts = [m.get("text") for m in body if isinstance(m, dict) and m.get("text")]
            if not texts and not case.silent_ok:
                silent += 1
                failures.append(f"{where}: empty reply to {case.body[:120]!r}")
            elif texts and (problem := check_reply(texts, [], [])):
                failures.append(f"{where}: {problem}")

    # Every process is up and still answers correctly, on each replica and through the front.
    dead = [name for name, proc in live.procs.items() if not proc.alive()]
    after = {}
    for base in [*bases, live.front]:
        reply = live.say(base, live.sender("fz-after"), "how long is a pain management approval valid?")
        after[base] = check_reply(reply.texts, ["10 business days"], []) if reply.status == 200 else reply.status
    stored_refused = live.count_events(f"fz-rej-{live.run_id}-%")
    drafts_refused = drafts_by(kb_url, f"fz-rej-{live.run_id}-%")
    drafts_accepted = drafts_by(kb_url, f"fz-ok-{live.run_id}-%")
    others_after = drafts_by(kb_url, "%") - drafts_by(kb_url, "fz-%")
    rasa_logs = "".join(t for p, t in live.logs().items() if p.name.startswith("rasa-"))
    channel_failures = rasa_logs.count("rest.message.received.failure")

    add_figures(
        fuzz_inputs=len(all_cases),
        fuzz_by_kind=dict(Counter(c.kind for c in all_cases)),
        fuzz_statuses={str(k): v for k, v in sorted(statuses.items())},
        fuzz_failures=len(failures),
        fuzz_silent_replies=silent,
        fuzz_seconds=round(elapsed, 1),
        fuzz_stored_events_from_refused=stored_refused,
        fuzz_rest_channel_exceptions=channel_failures,
        fuzz_drafts_started_by_accepted_texts=drafts_accepted,
    )
    assert not failures, f"{len(failures)} of {len(all_cases)}:\n" + "\n".join(failures[:40])
    assert not dead, f"processes died: {dead}"
    assert all(v is None for v in after.values()), after
    assert stored_refused == 0, "a refused request left events in the tracker store"
    assert drafts_refused == 0, "a refused request made a draft"
    assert others_after == others_before, "the fuzz run touched other conversations' drafts"
    assert channel_failures == 0, "the REST channel caught an exception (a silent [] reply)"
