"""Deterministic bad input for the REST webhook: odd message texts in a valid envelope, broken envelopes,
and broken bodies. Each case says whether the request guard must refuse it (4xx) or Rasa must answer it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

SQL = [
    "'; DROP TABLE events; --",
    "1' OR '1'='1",
    "27447'); DELETE FROM drafts; --",
    '" OR 1=1 --',
    "admin'--",
    "1; SELECT pg_sleep(10)",
    "' UNION SELECT sender_id, data FROM events --",
    "%27%20OR%201=1",
    "Robert'); DROP TABLE students;--",
    "$(rm -rf /)",
]
HTML = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(document.cookie)>",
    "javascript:alert(1)",
    "<svg/onload=alert(1)>",
    '"><iframe src="https://evil.example"></iframe>',
    "{{7*7}} ${7*7} <%= 7*7 %>",
    "<a href='//evil.example'>click</a> does 27447 need auth?",
    "&lt;b&gt;bold&lt;/b&gt;",
    "</textarea><script>fetch('/conversations')</script>",
    '<!--#exec cmd="ls" -->',
]
FORMAT = [
    "%s%s%s%s%n",
    "{0}{1}{__class__}",
    "%(message)s",
    "\\x00\\n\\r",
    "{}",
    "%",
    "\\",
    "\\u0000",
    "${jndi:ldap://x}",
]
RASA = [
    "/restart",
    "/session_start",
    "/back",
    "/greet",
    "/greet{",
    '/greet{"a": ',
    '/inform{"procedure": "<script>"}',
    '/ask_contact{"plan": "\' OR 1=1"}',
    "/nonexistent_intent",
    "/action_restart",
    "/",
    "//",
    '/inform{"cpt_code": "27447", "setting": "emergency"}',
    '/inform{"diagnosis_code": ["G89.18"' + ', "X"' * 50 + "]}",
    "/ask_review_required@0.99",
    '/ask_validity{"procedure":' + "[" * 200 + "]" * 200 + "}",
]
# Intents Rasa handles without a reply of ours (restart, session start, undo).
SILENT_OK = ("/restart", "/session_start", "/back")
PHI_LIKE = ["member id XYZ987654321 dob 02/03/1950", "born 1950-02-03", "subscriber # 55512345678"]
UNICODE_BLOCKS = [
    (0x0041, 0x007A),  # Latin
    (0x00C0, 0x024F),  # Latin extended
    (0x0370, 0x03FF),  # Greek
    (0x0400, 0x04FF),  # Cyrillic
    (0x0590, 0x05FF),  # Hebrew (RTL)
    (0x0600, 0x06FF),  # Arabic (RTL)
    (0x0900, 0x097F),  # Devanagari
    (0x0300, 0x036F),  # combining marks
    (0x4E00, 0x9FFF),  # CJK
    (0xAC00, 0xD7A3),  # Hangul
    (0x1F300, 0x1FAFF),  # emoji
    (0x2000, 0x206F),  # punctuation, zero-width and bidi controls
    (0xE000, 0xF8FF),  # private use
    (0x10000, 0x1007F),  # Linear B (astral)
]
EMOJI = ["👍", "🦵", "🏥", "👨‍⚕️", "🏳️‍🌈", "👩🏽‍🔬", "🇺🇸", "❤️", "🤖", "\u200d", "\ufe0f"]
QUESTIONS = ["does 27447 need PA?", "AIM phone number", "how long is a TKA approval valid", "recon deadline"]


@dataclass
class Case:
    kind: str  # "text" (valid envelope), "envelope", "body", "http"
    label: str
    body: bytes
    refused: bool  # the request guard must answer 4xx; nothing may be stored
    method: str = "POST"
    path: str = "/webhooks/rest/webhook"
    silent_ok: bool = False  # an empty reply is correct (Rasa's own /restart etc.)


def _random_text(rng: random.Random, length: int) -> str:
    chars = []
    for _ in range(length):
        lo, hi = rng.choice(UNICODE_BLOCKS)
        chars.append(chr(rng.randint(lo, hi)))
    return "".join(chars)


def texts(rng: random.Random, n: int) -> Iterator[tuple[str, str]]:
    """(label, message) for messages that pass the envelope checks but are odd."""
    fixed = (
        [("sql", t) for t in SQL]
        + [("html", t) for t in HTML]
        + [("format", t) for t in FORMAT]
        + [("rasa", t) for t in RASA]
        + [("phi", t) for t in PHI_LIKE]
        + [("emoji", "".join(EMOJI)), ("emoji", "👍" * 500), ("rtl", "\u202eeslaf\u202c does 27447 need PA?")]
        + [("long", "a" * 4000), ("long", ("does 27447 need PA? " * 200)[:4000]), ("long", "x" * 3999 + "é")]
        + [("control", "".join(chr(c) for c in range(1, 32))), ("control", "hi\r\n\t\x0b\x0c there")]
        + [("single", c) for c in "?!.-_/\\@#$%^&*()[]{}<>|~`'\"0é中👍"]
    )
    yield from fixed[:n]
    for i in range(max(0, n - len(fixed))):
        choice = i % 8
        if choice == 0:
            yield "unicode", _random_text(rng, rng.randint(1, 300))
        elif choice == 1:
            yield "emoji", "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 60)))
        elif choice == 2:
            yield "mixed", f"{rng.choice(QUESTIONS)} {_random_text(rng, rng.randint(1, 40))}"
        elif choice == 3:
            yield "injection", f"{rng.choice(QUESTIONS)} {rng.choice(SQL + HTML + FORMAT)}"
        elif choice == 4:
            yield "binaryish", "".join(chr(rng.randint(1, 0xFF)) for _ in range(rng.randint(1, 200)))
        elif choice == 5:
            yield (
                "words",
                " ".join(
                    rng.choice(["auth", "PA", "27447", "ER", "denied", "the", "??", "G89.18"])
                    for _ in range(rng.randint(1, 80))
                ),
            )
        elif choice == 6:
            yield "rasa", rng.choice(RASA)
        else:
            yield "long", _random_text(rng, rng.randint(1000, 3900))


def bad_envelopes(sender: str) -> Iterator[tuple[str, object]]:
    values = [None, 0, 1.5, True, [], {}, ["hi"], {"text": "hi"}, "", " ", "\x00"]
    for v in values:
        yield "message", {"sender": sender, "message": v}
        yield "sender", {"sender": v, "message": "hi"}
    for s in ["a b", "x" * 129, "agent:a:b", "héllo", "a/b", "../../etc", "a\nb", "👍", "a;DROP TABLE events"]:
        yield "sender", {"sender": s, "message": "hi"}
    yield "missing", {"message": "hi"}
    yield "missing", {"sender": sender}
    yield "missing", {}
    yield "metadata", {"sender": sender, "message": "hi", "metadata": "x"}
    yield "metadata", {"sender": sender, "message": "hi", "metadata": [1, 2]}
    yield "channel", {"sender": sender, "message": "hi", "input_channel": 5}
    yield "channel", {"sender": sender, "message": "hi", "input_channel": "../x"}
    yield "too-long", {"sender": sender, "message": "y" * 4001}
    yield "nul", {"sender": sender, "message": "does 27447\x00 need PA"}


def bad_bodies(rng: random.Random) -> Iterator[tuple[str, bytes]]:
    yield "empty", b""
    yield "whitespace", b" \n\t "
    for literal in [b"null", b"true", b"0", b'"hi"', b"[]", b"[1,2]", b'[{"sender":"a","message":"b"}]', b"{}"]:
        yield "not-object", literal
    for broken in [
        b"{",
        b"}",
        b"{]",
        b'{"sender": "a", "message": "b"',
        b'{"sender": "a" "message": "b"}',
        b"{'sender': 'a', 'message': 'b'}",
        b'{"sender": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1e999}',
        b'{"sender": "a", "message": "b"}}',
        b"sender=a&message=b",
        b"<xml/>",
    ]:
        yield "broken-json", broken
    yield "deep", b"[" * 8000 + b"]" * 8000  # under the size cap; deeper than json's recursion limit
    yield "deep-object", b'{"a":' * 2500 + b"1" + b"}" * 2500
    yield "utf16", json.dumps({"sender": "a", "message": "hi"}).encode("utf-16")
    yield "latin1", '{"sender": "a", "message": "caf\xe9"}'.encode("latin-1")
    yield "bom", b"\xef\xbb\xbf" + json.dumps({"sender": "a", "message": "hi"}).encode()
    yield "surrogate", b'{"sender": "a", "message": "\\udc00\\ud800"}'
    yield "huge", b'{"sender": "a", "message": "' + b"z" * 20_000 + b'"}'
    yield "huge", b"x" * 200_000
    for _ in range(40):
        yield "binary", bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 2000)))


def random_refusals(rng: random.Random, n: int, sender_for) -> Iterator[tuple[str, str, bytes]]:
    """(kind, label, body) of randomly broken requests, all to be refused: cheap, so many."""
    junk = [None, True, 0, -1, 1e308, [], {}, [None], {"a": {"b": []}}]
    for i in range(n):
        choice = i % 6
        if choice == 0:
            yield "body", "random-bytes", bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 3000)))
        elif choice == 1:
            value = rng.choice(junk + [_random_text(rng, rng.randint(0, 50))])
            yield "body", "json-not-object", json.dumps(value).encode()
        elif choice == 2:
            sender = _random_text(rng, rng.randint(1, 40)) + rng.choice([" ", "/", "\n", "é", "👍"])
            yield "envelope", "random-sender", json.dumps({"sender": sender, "message": "hi"}).encode()
        elif choice == 3:
            message = rng.choice(junk)
            yield "envelope", "message-type", json.dumps({"sender": sender_for("fz-rej"), "message": message}).encode()
        elif choice == 4:
            text = _random_text(rng, rng.randint(0, 30))
            broken = rng.choice([text + r"\u0000" + text, text + r"\ud800", r"\udfff" + text, r" \t\n "])
            raw = '{"sender": "' + sender_for("fz-rej") + '", "message": "' + broken + '"}'  # raw JSON escapes
            yield "envelope", "bad-text", raw.encode()
        else:
            whole = json.dumps({"sender": sender_for("fz-rej"), "message": "does 27447 need PA?"}).encode()
            yield "body", "truncated", whole[: rng.randint(0, len(whole) - 1)]


def cases(seed: int, n_texts: int, sender_for, n_random_refusals: int = 800) -> list[Case]:
    """All cases; `sender_for(kind)` makes a fresh sender id."""
    rng = random.Random(seed)
    out: list[Case] = []
    for label, message in texts(rng, n_texts):
        size = len(json.dumps({"sender": sender_for("fz-rej"), "message": message}).encode())
        refused = len(message) > 4000 or not message.strip() or "\x00" in message or size > 16 * 1024
        body = json.dumps({"sender": sender_for("fz-rej" if refused else "fz-ok"), "message": message}).encode()
        silent = message.split("{")[0].strip() in SILENT_OK
        out.append(Case("text", label, body, refused, silent_ok=silent))
    for label, payload in bad_envelopes(sender_for("fz-rej")):
        out.append(Case("envelope", label, json.dumps(payload).encode(), True))
    for label, body in bad_bodies(rng):
        out.append(Case("body", label, body, True))
    for kind, label, body in random_refusals(rng, n_random_refusals, sender_for):
        out.append(Case(kind, label, body, True))
    good = json.dumps({"sender": sender_for("fz-rej"), "message": "hi"}).encode()
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        out.append(Case("http", f"method-{method}", good, True, method=method))
    for path in ["/webhooks/rest/webhook/../../status", "/webhooks/rest/", "/webhooks/nope/webhook", "/webhooks/"]:
        out.append(Case("http", f"path-{path}", good, True, path=path))
    return out
