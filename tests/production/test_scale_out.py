"""Scale-out: concurrent conversations through a round-robin front to two Rasa replicas.

Every reply is checked for its facts (an empty reply is a failure: Rasa 3.6's REST channel answers
HTTP 200 `[]` when it loses a message); then the trackers are read back from PostgreSQL and every
user and bot event counted, in order, and every draft request made in those conversations is read
back from the knowledge database: one per conversation, complete, with its audit trail. A second
test sends two messages of one conversation at the same moment to the two replicas: only the shared
Redis lock store keeps both turns.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import requests

from tests.production.cluster import add_figures
from tests.production.conversations import Talk, bot_parts, check_reply, draft_problems, tracker_problems

N_CONVERSATIONS = int(os.environ.get("PRIORAUTH_PROD_CONVERSATIONS", "50"))


def test_fifty_conversations_of_twelve_turns_across_two_replicas(live):
    talks = [Talk.planned(i, live.sender("scale")) for i in range(N_CONVERSATIONS)]

    def converse(talk: Talk) -> Talk:
        with requests.Session() as session:
            return talk.play(partial(live.say, session=session), live.front)

    before = live.upstream_counts()
    t0 = time.monotonic()
    with ThreadPoolExecutor(N_CONVERSATIONS) as pool:
        list(pool.map(converse, talks))
    elapsed = time.monotonic() - t0
    after = live.upstream_counts()

    reply_errors = [problem for talk in talks for problem in talk.problems]
    stored = live.events(f"scale-{live.run_id}-%")
    tracker_errors, lost, duplicated = [], 0, 0
    for talk in talks:
        problems, n_lost, n_dup = tracker_problems(stored.get(talk.sender, []), talk)
        tracker_errors, lost, duplicated = tracker_errors + problems, lost + n_lost, duplicated + n_dup
    drafts = live.drafts(f"scale-{live.run_id}-%")
    draft_talks = [t for t in talks if t.name == "draft request"]
    draft_errors = [p for t in draft_talks for p in draft_problems(t, drafts.get(t.sender, []))]
    stray = set(drafts) - {t.sender for t in draft_talks}

    served = {k: after[k] - before.get(k, 0) for k in after if after[k] > before.get(k, 0)}
    latencies = sorted(r.seconds for t in talks for _m, r, _p in t.turns if r is not None)
    turns = sum(len(t.turns) for t in talks)
    add_figures(
        scale_conversations=len(talks),
        scale_turns=turns,
        scale_reply_errors=len(reply_errors),
        scale_empty_replies=sum("empty reply" in e for e in reply_errors),
        scale_lost_events=lost,
        scale_duplicated_events=duplicated,
        scale_seconds=round(elapsed, 1),
        scale_turns_per_second=round(turns / elapsed, 1),
        scale_p50_ms=round(1000 * statistics.median(latencies)),
        scale_p95_ms=round(1000 * latencies[int(0.95 * (len(latencies) - 1))]),
        scale_requests_per_replica=served,
        scale_draft_conversations=len(draft_talks),
        scale_drafts_ready_in_database=sum(len(drafts.get(t.sender, [])) for t in draft_talks),
        scale_draft_errors=len(draft_errors),
    )
    assert not reply_errors, f"{len(reply_errors)} wrong replies of {turns}:\n" + "\n".join(reply_errors[:30])
    assert not tracker_errors, "\n".join(tracker_errors[:30])
    assert lost == 0 and duplicated == 0
    assert draft_talks and not draft_errors and not stray, "\n".join(draft_errors) + f"\nunexpected owners: {stray}"
    assert len(served) == 2 and min(served.values()) >= 0.3 * turns, f"turns not spread across replicas: {served}"


def test_two_replicas_take_turns_of_one_conversation_one_at_a_time(live):
    """Two messages of one conversation at the same moment, one to each replica: the Redis lock store
    makes the second wait, so both turns are answered and stored (with per-replica locks the second
    turn's save would overwrite the first)."""
    pairs = 20
    first = ("how long is a pain management approval valid?", ["10 business days"], ["60 calendar days"])
    second = ("TKA auth validity", ["60 calendar days"], ["10 business days"])

    def pair(_: int) -> tuple[str, list[str], int]:
        sender = live.sender("lock")
        problems = []
        opening = live.say(live.replica_url(1), sender, "hi there")
        problems += [f"opening: {p}"] if (p := check_reply(opening.texts, [], [])) else []
        barrier, results = threading.Barrier(2), {}

        def send(i: int, turn: tuple) -> None:
            barrier.wait()
            results[i] = live.say(live.replica_url(i), sender, turn[0])

        threads = [threading.Thread(target=send, args=(1, first)), threading.Thread(target=send, args=(2, second))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, turn in ((1, first), (2, second)):
            reply = results[i]
            problem = f"HTTP {reply.status}" if reply.status != 200 else check_reply(reply.texts, turn[1], turn[2])
            problems += [f"replica {i}: {problem}"] if problem else []
        received = len(opening.texts) + sum(len(r.texts) for r in results.values())
        return sender, problems, received

    with ThreadPoolExecutor(pairs) as pool:
        outcomes = list(pool.map(pair, range(pairs)))
    stored = live.events(f"lock-{live.run_id}-%")
    errors = []
    for sender, problems, received in outcomes:
        errors += [f"{sender}: {p}" for p in problems]
        events = stored.get(sender, [])
        users = [t for kind, t, _ in events if kind == "user"]
        if len(users) != 3 or sorted(users[1:]) != sorted([first[0], second[0]]):
            errors.append(f"{sender}: stored user turns {users}")
        kinds = [kind for kind, _, _ in events if kind in ("user", "bot")]
        if any(k == "user" and (i + 1 == len(kinds) or kinds[i + 1] != "bot") for i, k in enumerate(kinds)):
            errors.append(f"{sender}: turns interleaved: {kinds}")
        if (parts := bot_parts([t for kind, t, _ in events if kind == "bot"])) != received:
            errors.append(f"{sender}: bot events hold {parts} messages, {received} were received")
    add_figures(lock_concurrent_pairs=pairs, lock_errors=len(errors))
    assert not errors, "\n".join(errors)
