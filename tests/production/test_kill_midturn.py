"""Kills mid-turn, under load: a Rasa replica SIGKILLed while it holds conversations' locks and waits on their
actions, and an action server SIGKILLed while Rasa waits on it.

Traffic goes through a second nginx routed as deploy/nginx.conf routes it (consistent hash on X-Sender-Id, the
same error pages; `Cluster.start_hashed_front`), so which conversations live on which replica is known (each
response names its replica). To be sure the kill lands mid-turn, the action server the victim replica calls is
first frozen (SIGSTOP): the turns' action requests reach it and queue on its sockets (counted in /proc/net/tcp),
each turn holding its conversation's lock while Rasa waits. Then the replica is SIGKILLed, and the action server
thawed (SIGCONT): it runs the queued actions - a draft field is saved - and answers a dead peer.

What must hold, per conversation:
- the interrupted request gets an error response (nginx's error page: 503 JSON "temporarily unavailable"), never
  silence; the turns on the other replica are answered as usual;
- the next turn is answered, by the surviving replica, within the lock lifetime (TICKET_LOCK_LIFETIME, 120 s in
  the cluster and in deploy/): the dead replica's ticket is nobody's to give back, so it expires;
- no event lost or duplicated: the tracker store holds, once each and in order, exactly the messages Rasa
  answered (a turn interrupted by the kill was never stored - Rasa saves a turn at its end - and is sent again);
- no acknowledged draft field lost: every field saved before the kill is still there after it, field by field,
  and the draft completes.
For the action server: the user gets the clear "temporarily unavailable" reply (HTTP 200), the next turn after
the restart is answered, and no event is duplicated.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests
from sqlalchemy import create_engine, text

from priorauth.drafts.validators import FIELDS as DRAFT_FIELDS
from tests.production.cluster import UNAVAILABLE, Reply, add_figures
from tests.production.conversations import Talk, bot_parts, check_reply, draft_problems

LOCK_LIFETIME = 120  # TICKET_LOCK_LIFETIME of the cluster's replicas (cluster.py), as in deploy/
FIELDS = ["reference", "status", *DRAFT_FIELDS]
QUESTION_INDICES = [0, 1, 2, 3, 4]  # the five question scripts (conversations.py); every 6th index is a draft
DRAFT_INDICES = [5, 11, 17]

FIGURES: dict[str, object] = {}


def record(key: str, value: object) -> None:
    FIGURES[key] = value
    add_figures(kill_midturn=dict(FIGURES))


# --- talking through the hashed front ---------------------------------------------------------------------


class Conversation:
    """A scripted conversation whose requests carry X-Sender-Id; keeps what Rasa answered (stored turns)."""

    def __init__(self, cluster, front: str, index: int, sender: str, replica: str):
        self.cluster, self.front, self.replica = cluster, front, replica
        self.talk = Talk.planned(index, sender)
        self.answered: list[str] = []  # messages Rasa answered (HTTP 200): the tracker must hold exactly these
        self.received_texts = 0
        self.session = requests.Session()

    @property
    def sender(self) -> str:
        return self.talk.sender

    def post(self, message: str, timeout: float = 180) -> Reply:
        t0 = time.monotonic()
        response = self.session.post(
            f"{self.front}/webhooks/rest/webhook",
            json={"sender": self.sender, "message": message},
            headers={"X-Sender-Id": self.sender},
            timeout=timeout,
        )
        try:
            body = response.json()
        except ValueError:
            body = response.text
        reply = Reply(response.status_code, body, time.monotonic() - t0)
        reply.replica = self.cluster.replica_of(response.headers.get("X-Upstream"))
        if reply.status == 200:
            self.answered.append(message)
            self.received_texts += len(reply.texts)
        return reply

    def say(self, _base: str, _sender: str, message: str) -> Reply:  # Talk.play's signature
        return self.post(message)

    def play(self, turns: int | None = None) -> Conversation:
        self.talk.play(self.say, self.front, turns)
        return self

    @property
    def next_message(self) -> str:
        return self.talk.script[len(self.talk.turns)][0]

    def check_next(self, reply: Reply) -> str | None:
        """Records the reply as the script's next turn (a normal answer expected); None when right."""
        message, must, must_not = self.talk.script[len(self.talk.turns)]
        must = [fact.replace("{ref}", self.talk.reference or "DR-?") for fact in must]
        problem = f"HTTP {reply.status}" if reply.status != 200 else check_reply(reply.texts, must, must_not)
        self.talk.turns.append((message, reply, problem))
        return problem


def pick_senders(cluster, front: str, kind: str, wanted: dict[str, int]) -> dict[str, list[str]]:
    """Sender ids that the front's consistent hash sends to each replica (a GET / names the replica)."""
    found: dict[str, list[str]] = {name: [] for name in wanted}
    for _ in range(400):
        if all(len(found[n]) >= k for n, k in wanted.items()):
            break
        sender = cluster.sender(kind)
        response = requests.get(f"{front}/", headers={"X-Sender-Id": sender}, timeout=10)
        replica = cluster.replica_of(response.headers.get("X-Upstream"))
        if replica in found and len(found[replica]) < wanted[replica]:
            found[replica].append(sender)
    assert all(len(found[n]) >= k for n, k in wanted.items()), found
    return found


def conversations(cluster, front: str, kind: str, per_replica: dict[str, list[int]]) -> list[Conversation]:
    senders = pick_senders(cluster, front, kind, {name: len(indices) for name, indices in per_replica.items()})
    return [
        Conversation(cluster, front, index, sender, name)
        for name, indices in per_replica.items()
        for index, sender in zip(indices, senders[name], strict=True)
    ]


def in_parallel(function, items: list) -> list:
    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(function, items))


# --- looking at processes and stores ----------------------------------------------------------------------


def port_of(cluster, name: str) -> int:
    return urlsplit(cluster.procs[name].ready_url).port


def queued_requests(port: int) -> int:
    """Connections to `port` whose received data the (frozen) server has not read: requests waiting on it."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state, queues = parts[1], parts[3], parts[4]
            if int(local.rsplit(":", 1)[1], 16) == port and state == "01" and int(queues.split(":")[1], 16) > 0:
                n += 1
    return n


def wait_queued(port: int, wanted: int, timeout: float) -> int:
    deadline, n = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        n = queued_requests(port)
        if n >= wanted:
            break
        time.sleep(0.2)
    return n


def signal_group(cluster, name: str, sig: int) -> None:
    os.killpg(cluster.procs[name].popen.pid, sig)


def drafts(cluster, owner_like: str) -> dict[str, dict]:
    """owner -> its one draft's fields (text), straight from the knowledge database."""
    engine = create_engine(cluster.db_url(cluster.kb_db), future=True)
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT owner, {', '.join(FIELDS)} FROM drafts WHERE owner LIKE :o ORDER BY id"), {"o": owner_like}
        ).mappings()
        out = {row["owner"]: {f: None if row[f] is None else str(row[f]) for f in FIELDS} for row in rows}
    engine.dispose()
    return out


def users(events: list[tuple]) -> list[str]:
    return [t for kind, t, _ in events if kind == "user"]


def event_problems(stored: list[tuple], conv: Conversation) -> tuple[list[str], int, int]:
    """Stored user events must be exactly the answered messages, in order; bot events the texts received."""
    stored_users, answered = users(stored), conv.answered
    lost = sum(max(0, answered.count(m) - stored_users.count(m)) for m in set(answered))
    duplicated = sum(max(0, stored_users.count(m) - answered.count(m)) for m in set(stored_users))
    problems = []
    if stored_users != answered:
        problems.append(f"user events {stored_users} != answered messages {answered}")
    bots = bot_parts([t for kind, t, _ in stored if kind == "bot"])
    if bots != conv.received_texts:
        problems.append(f"bot events hold {bots} messages, {conv.received_texts} were received")
    return [f"{conv.sender}: {p}" for p in problems], lost, duplicated


def field_losses(before: dict[str, str | None], after: dict[str, str | None] | None, done: bool = False) -> list[str]:
    """Fields set in `before` that `after` lost or changed; `done`: the draft was completed since (open -> ready)."""
    if after is None:
        return ["draft gone"]
    moved = {"status"} if done and before["status"] == "open" and after["status"] == "ready" else set()
    return [
        f"{f}: {before[f]!r} -> {after[f]!r}"
        for f in FIELDS
        if before[f] is not None and after[f] != before[f] and f not in moved
    ]


def short(reply: Reply | None) -> str:
    if reply is None:
        return "no reply"
    if isinstance(reply.body, dict):
        return f"{reply.status} {reply.body.get('error')}"
    if reply.status == 200:
        return "200 unavailable" if UNAVAILABLE in reply.text else ("200 answer" if reply.texts else "200 EMPTY")
    return f"{reply.status} {str(reply.body)[:60]!r}"


# --- the tests ----------------------------------------------------------------------------------------------


def test_replica_sigkilled_mid_turn_under_load(live):
    front = live.start_hashed_front()
    # 16 conversations, 8 on each replica; 3 of each 8 are draft requests, stopped in the middle of the form.
    per_replica = {
        "rasa-1": DRAFT_INDICES + QUESTION_INDICES,
        "rasa-2": [i + 18 for i in DRAFT_INDICES] + [i + 6 for i in QUESTION_INDICES],
    }
    convs = conversations(live, front, f"kill-{uuid.uuid4().hex[:4]}", per_replica)
    prefix = convs[0].sender.rsplit("-", 1)[0] + "-%"
    in_parallel(lambda c: c.play(2), convs)
    errors = [p for c in convs for p in c.talk.problems]
    errors += [
        f"{c.sender} served by {r.replica}, hashed to {c.replica}"
        for c in convs
        for _m, r, _p in c.talk.turns
        if r.replica != c.replica
    ]
    assert not errors, errors
    victims = [c for c in convs if c.replica == "rasa-1"]
    events_before = live.events(prefix)
    drafts_before = drafts(live, prefix)

    # Turn 3 of every conversation at once; rasa-1's wait on the frozen actions-1, holding their locks.
    actions_port = port_of(live, "actions-1")
    signal_group(live, "actions-1", signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(len(convs)) as pool:
            sent_at = time.monotonic()
            futures = {c.sender: (c.next_message, pool.submit(c.post, c.next_message)) for c in convs}
            waiting = wait_queued(actions_port, len(victims), timeout=20)
            in_flight = sum(1 for _m, f in futures.values() if not f.done())
            live.procs["rasa-1"].kill()  # SIGKILL
            killed_at = time.monotonic()
            signal_group(live, "actions-1", signal.SIGCONT)  # runs the queued actions for a dead peer
            replies = {sender: (m, f.result()) for sender, (m, f) in futures.items()}
    finally:
        if live.procs["actions-1"].alive():
            signal_group(live, "actions-1", signal.SIGCONT)
    time.sleep(2)  # let actions-1 finish the orphaned actions before the drafts are read
    events_at_kill = live.events(prefix)
    drafts_at_kill = drafts(live, prefix)

    # What each request in flight got.
    for c in convs:
        message, reply = replies[c.sender]
        if c.replica == "rasa-1":
            body = reply.body if isinstance(reply.body, dict) else {}
            if (
                reply.status != 503
                or body.get("error") != "service_unavailable"
                or UNAVAILABLE not in body.get("message", "")
            ):
                errors.append(f"{c.sender} interrupted: not the error page: {reply.status} {str(reply.body)[:200]}")
        else:
            if c.check_next(reply):
                errors.append(f"{c.sender} on rasa-2 during the kill: {c.talk.problems[-1]}")
    # Nothing of an interrupted turn was stored; the other replica's turns were.
    for c in victims:
        if events_at_kill.get(c.sender) != events_before.get(c.sender):
            errors.append(f"{c.sender}: events changed by the interrupted turn")
    # Every field saved (and acknowledged) before the kill is still there, field by field.
    field_rows = {}
    for owner, before in drafts_before.items():
        lost = field_losses(before, drafts_at_kill.get(owner))
        errors += [f"{owner}: at the kill, {x}" for x in lost]
        field_rows[owner] = {"before": before, "at_kill": drafts_at_kill.get(owner)}

    # The next turn of every conversation (the interrupted one sent again) goes to rasa-2, within the lock lifetime.
    def resume(c: Conversation) -> tuple[Reply, float]:
        reply = c.post(c.next_message)
        return reply, time.monotonic() - killed_at

    resumed = dict(zip((c.sender for c in convs), in_parallel(resume, convs), strict=True))
    for c in convs:
        reply, after_kill = resumed[c.sender]
        problem = c.check_next(reply)
        if problem:
            errors.append(f"{c.sender}: next turn after the kill: {problem}")
        if reply.replica != "rasa-2":
            errors.append(f"{c.sender}: next turn served by {reply.replica}")
    waits = [resumed[c.sender][1] for c in victims]
    bound = LOCK_LIFETIME - (killed_at - sent_at) + 15  # the dead tickets were issued at `sent_at`
    if max(waits) > bound:
        errors.append(f"next turn of a victim after {max(waits):.0f} s > the lock lifetime bound {bound:.0f} s")
    in_parallel(lambda c: c.play(), convs)  # the rest of every script
    errors += [p for c in convs for p in c.talk.problems]

    # The tracker store, per conversation: exactly the answered messages, once each, in order.
    stored = live.events(prefix)
    lost = duplicated = 0
    per_conversation = {}
    for c in convs:
        problems, n_lost, n_dup = event_problems(stored.get(c.sender, []), c)
        errors += problems
        lost, duplicated = lost + n_lost, duplicated + n_dup
        per_conversation[c.sender.rsplit("-", 1)[-1]] = {
            "replica": c.replica,
            "in_flight_got": short(replies[c.sender][1]),
            "user_events_before_kill": len(users(events_before.get(c.sender, []))),
            "user_events_at_kill": len(users(events_at_kill.get(c.sender, []))),
            "user_events_after": len(users(stored.get(c.sender, []))),
            "messages_answered": len(c.answered),
        }
    final_drafts = drafts(live, prefix)
    for c in convs:
        if c.talk.name == "draft request":
            errors += draft_problems(c.talk, live.drafts(c.sender).get(c.sender, []))
            before = drafts_before.get(c.sender)
            if before:
                errors += [
                    f"{c.sender}: at the end, {x}" for x in field_losses(before, final_drafts.get(c.sender), done=True)
                ]
                field_rows[c.sender]["final"] = final_drafts.get(c.sender)

    def compared(row: dict) -> dict:
        return {
            f: f"{row['before'][f]} | {(row['at_kill'] or {}).get(f)} | {(row.get('final') or {}).get(f)}"
            for f in FIELDS
            if row["before"][f] is not None or (row["at_kill"] or {}).get(f) is not None
        }

    record(
        "replica_sigkill_mid_turn",
        {
            "conversations": len(convs),
            "requests_in_flight_at_kill": in_flight,
            "requests_waiting_on_frozen_actions_1": waiting,
            "in_flight_got": {
                k: sum(1 for c in convs if short(replies[c.sender][1]) == k)
                for k in sorted({short(r) for _m, r in replies.values()})
            },
            "next_turn_seconds_after_kill_max": round(max(waits), 1),
            "lock_bound_seconds": round(bound, 1),
            "lost_events": lost,
            "duplicated_events": duplicated,
            "per_conversation": per_conversation,
            "drafts_before_at_kill_final": {k.rsplit("-", 1)[-1]: compared(v) for k, v in field_rows.items()},
            "errors": len(errors),
        },
    )
    assert not errors, "\n".join(errors[:30])
    assert lost == 0 and duplicated == 0


def test_action_server_sigkilled_mid_action(live):
    front = live.start_hashed_front()
    live.wait_ready(["rasa-1", "rasa-2"])
    convs = conversations(live, front, f"killact-{uuid.uuid4().hex[:4]}", {"rasa-2": DRAFT_INDICES + [0, 1, 2]})
    prefix = convs[0].sender.rsplit("-", 1)[0] + "-%"
    in_parallel(lambda c: c.play(2), convs)
    assert not [p for c in convs for p in c.talk.problems]
    served = {r.replica for c in convs for _m, r, _p in c.talk.turns}
    assert served == {"rasa-2"}, served  # these conversations wait on actions-2 below
    drafts_before = drafts(live, prefix)

    actions_port = port_of(live, "actions-2")
    signal_group(live, "actions-2", signal.SIGSTOP)
    with ThreadPoolExecutor(len(convs)) as pool:
        futures = {c.sender: (c.next_message, pool.submit(c.post, c.next_message)) for c in convs}
        waiting = wait_queued(actions_port, len(convs), timeout=20)
        in_flight = sum(1 for _m, f in futures.values() if not f.done())
        live.procs["actions-2"].kill()  # SIGKILL, while Rasa waits on every one of these actions
        replies = {sender: (m, f.result()) for sender, (m, f) in futures.items()}
    errors = []
    for c in convs:
        _message, reply = replies[c.sender]
        if reply.status != 200 or UNAVAILABLE not in reply.text or "Traceback" in reply.text:
            errors.append(f"{c.sender}: not the unavailable reply: {reply.status} {str(reply.body)[:200]}")
    assert live.procs["rasa-2"].alive(), "rasa-2 crashed"
    drafts_down = drafts(live, prefix)
    for owner, before in drafts_before.items():
        errors += [f"{owner}: {x}" for x in field_losses(before, drafts_down.get(owner))]

    live.restart("actions-2")
    resumed = in_parallel(lambda c: (c, c.post(c.next_message)), convs)  # the same message again
    for c, reply in resumed:
        if problem := c.check_next(reply):
            errors.append(f"{c.sender}: next turn after the restart: {problem}")
    in_parallel(lambda c: c.play(), convs)
    errors += [p for c in convs for p in c.talk.problems]
    stored = live.events(prefix)
    lost = duplicated = 0
    for c in convs:
        problems, n_lost, n_dup = event_problems(stored.get(c.sender, []), c)
        errors += problems
        lost, duplicated = lost + n_lost, duplicated + n_dup
        if c.talk.name == "draft request":
            errors += draft_problems(c.talk, live.drafts(c.sender).get(c.sender, []))
    record(
        "action_server_sigkill_mid_action",
        {
            "conversations": len(convs),
            "requests_in_flight_at_kill": in_flight,
            "requests_queued_at_actions_2": waiting,
            "in_flight_got": {
                k: sum(1 for _m, r in replies.values() if short(r) == k)
                for k in sorted({short(r) for _m, r in replies.values()})
            },
            "lost_events": lost,
            "duplicated_events": duplicated,
            "user_events_per_conversation": {
                c.sender.rsplit("-", 1)[-1]: len(users(stored.get(c.sender, []))) for c in convs
            },
            "errors": len(errors),
        },
    )
    assert not errors, "\n".join(errors[:30])
    assert lost == 0 and duplicated == 0
