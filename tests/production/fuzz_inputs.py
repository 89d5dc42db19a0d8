"""Generated bad input for the three channels of the Rasa server, drawn by Hypothesis strategies.

- REST webhook (`POST /webhooks/rest/webhook`): odd message texts in a valid envelope; envelopes with wrong
  types, missing, extra, huge and empty fields; broken bodies (invalid JSON, other encodings, deep nesting,
  lone surrogates escaped in JSON, binary); other methods, paths and content types.
- socket.io (`/socket.io/`): `session_request` and `user_uttered` with odd payloads (any JSON value, extra
  arguments, odd session ids, metadata) and odd texts in a valid payload.
- agent channel (`/webhooks/agent/`): bad `Authorization` headers and forged or malformed tokens, and odd bodies
  and query strings under a valid token.

Each case carries what must happen, decided by the oracles below from the rules in SECURITY.md (not by the
server's code): refused with a 4xx (or a socket.io `refused` event) naming what was wrong, or answered. Cases are
drawn with a fixed seed (`draw`), so a run is reproducible from PRIORAUTH_FUZZ_SEED and the input count.
Sender ids and session ids are placeholders of a fixed length in the drawn case, replaced per request by a
fresh id whose prefix says whether the request must be refused (`*-rj-*`) or answered (`*-ok-*`): the tracker
store then tells which refused request left events.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field, replace

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

# --- the rules (SECURITY.md, "Inside the Rasa server" and "Agent identity") ------------------------------
MAX_BODY_BYTES = 16 * 1024
MAX_MESSAGE_CHARS = 4000
AGENT_MAX_MESSAGE_CHARS = 2000
SENDER = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
INPUT_CHANNEL = re.compile(r"[a-z][a-z0-9_]{0,31}")
SESSION = re.compile(r"[A-Za-z0-9_-]{1,64}")
AGENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
REST_PATH = "/webhooks/rest/webhook"
AGENT_WEBHOOK = "/webhooks/agent/webhook"
AGENT_HISTORY = "/webhooks/agent/history"

# Placeholders (each as long as the ids that replace them: tests/production/test_fuzz.py `ids`).
SENDER_SLOT = "fzXrest-00000000-000000000000"
SESSION_SLOT = "fzXsock-00000000-000000000000"
AGENT_SESSION_SLOT = "fzXagnt-00000000-000000000000"

# Intents Rasa handles itself, possibly without a reply of ours (restart, session start, undo).
SILENT_OK = ("/restart", "/session_start", "/back")

SQL = [
    "'; DROP TABLE events; --",
    "1' OR '1'='1",
    "27447'); DELETE FROM drafts; --",
    "' UNION SELECT sender_id, data FROM events --",
    "1; SELECT pg_sleep(10)",
    "%27%20OR%201=1",
    "$(rm -rf /)",
]
HTML = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(document.cookie)>",
    "javascript:alert(1)",
    '"><iframe src="https://evil.example"></iframe>',
    "{{7*7}} ${7*7} <%= 7*7 %>",
    "</textarea><script>fetch('/conversations')</script>",
    "&lt;b&gt;bold&lt;/b&gt;",
]
FORMAT = ["%s%s%s%s%n", "{0}{1}{__class__}", "%(message)s", "${jndi:ldap://x}", "\\u0000", "\\"]
RASA = [
    "/restart",
    "/session_start",
    "/back",
    "/greet",
    "/greet{",
    '/inform{"procedure": "<script>"}',
    "/nonexistent_intent",
    "/action_restart",
    "/",
    '/inform{"cpt_code": "27447", "setting": "emergency"}',
    "/ask_review_required@0.99",
    '/ask_validity{"procedure":' + "[" * 50 + "]" * 50 + "}",
]
PHI_LIKE = ["member id XYZ987654321 dob 02/03/1950", "born 1950-02-03", "subscriber # 55512345678"]
QUESTIONS = ["does 27447 need PA?", "AIM phone number", "how long is a TKA approval valid", "recon deadline"]
SPECIAL = (
    ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]  # zero-width, BOM, soft hyphen
    + ["\u202e", "\u202d", "\u202c", "\u2066", "\u2067", "\u2069", "\u200f", "\u200e"]  # bidi controls
    + ["שלום", "مرحبا", "نیاز به مجوز"]  # RTL text
    + ["👍", "🦵", "🏥", "👨\u200d⚕️", "🏳️\u200d🌈", "👩🏽\u200d🔬", "🇺🇸", "\ufe0f", "e\u0301", "Z\u0335\u0336"]
    + ["\r\n", "\t", "\x0b", "\x1b[31m", "\x7f", "\u0085", "\u2028", "\u2029"]  # control characters
)


@dataclass(frozen=True)
class Expect:
    """What must happen: refused with `status` and error `code` (None: any specific code), or answered."""

    refused: bool
    status: int = 200
    code: str | None = None
    silent_ok: bool = False  # an empty reply is right (Rasa's own /restart etc.)


ANSWER = Expect(False)


@dataclass
class Case:
    channel: str  # "rest", "socketio", "agent"
    kind: str
    expect: Expect = ANSWER
    # HTTP (rest, agent)
    method: str = "POST"
    path: str = REST_PATH
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    query: dict | None = None
    token: object = None  # agent: "valid", a literal Authorization header value, or ("signed", set, drop, header)
    # socket.io: the events in order, each (event name, args); the last one's outcome is checked
    events: list = field(default_factory=list)
    agent_claim: object = None

    def described(self) -> str:
        shown = self.body[:100] if self.body else (repr(self.events)[:160] if self.events else "")
        return f"[{self.channel}/{self.kind}] {self.method} {self.path} {shown!r}"


# --- the oracles ---------------------------------------------------------------------------------------


def _is_text(message: str) -> bool:
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in message


def message_expectation(message: object, limit: int) -> Expect:
    if not isinstance(message, str):
        return Expect(True, 400, "invalid_message")
    if not message.strip():
        return Expect(True, 400, "invalid_message")
    if not _is_text(message):
        return Expect(True, 400, "invalid_message")
    if len(message) > limit:
        return Expect(True, 413, "message_too_long")
    return Expect(False, silent_ok=message.strip().startswith(SILENT_OK) or message.strip().startswith("/"))


def rest_expectation(body: bytes, method: str = "POST", path: str = REST_PATH) -> Expect:
    if path != REST_PATH:
        return Expect(True, 0)  # Sanic's 404 or 405
    if method != "POST":
        return Expect(True, 405)
    if len(body) > MAX_BODY_BYTES:
        return Expect(True, 413, "payload_too_large")
    if not body.strip():
        return Expect(True, 400, "invalid_request")
    try:
        data = json.loads(body.decode("utf-8"))
    except RecursionError:  # deep nesting: whether it parses depends on the process's recursion limit (the
        return Expect(True, 400)  # server's is higher: then no "sender"), so any specific 400
    except (UnicodeDecodeError, ValueError):
        return Expect(True, 400, "invalid_json")
    if not isinstance(data, dict):
        return Expect(True, 400, "invalid_request")
    sender = data.get("sender")
    if not isinstance(sender, str) or not SENDER.fullmatch(sender) or sender.startswith("agent:"):
        return Expect(True, 400, "invalid_sender")
    expect = message_expectation(data.get("message"), MAX_MESSAGE_CHARS)
    if expect.refused:
        return expect
    if data.get("metadata") is not None and not isinstance(data["metadata"], dict):
        return Expect(True, 400, "invalid_metadata")
    channel = data.get("input_channel")
    if channel is not None and not (isinstance(channel, str) and INPUT_CHANNEL.fullmatch(channel)):
        return Expect(True, 400, "invalid_input_channel")
    return expect


def socketio_expectation(events: list) -> Expect:
    """A session_request (None or an object whose session_id is None or a sender id) is confirmed; a
    user_uttered must be one object with a session id of this connection and a message as on REST."""
    for name, args in events:
        if len(args) > 1 or (name != "session_request" and len(args) != 1):
            return Expect(True, 400, "invalid_payload")
        data = args[0] if args else None
        if name == "session_request":
            if data is None:
                continue
            if not isinstance(data, dict):
                return Expect(True, 400, "invalid_payload")
            sid = data.get("session_id")
            if sid is not None and not (
                isinstance(sid, str) and SENDER.fullmatch(sid) and not sid.startswith("agent:")
            ):
                return Expect(True, 400, "invalid_session_id")
            continue
        if not isinstance(data, dict):
            return Expect(True, 400, "invalid_payload")
        sid = data.get("session_id")
        if not (isinstance(sid, str) and SENDER.fullmatch(sid) and not sid.startswith("agent:")):
            return Expect(True, 400, "invalid_session_id")
        expect = message_expectation(data.get("message"), MAX_MESSAGE_CHARS)
        if expect.refused:
            return expect
        metadata = data.get("metadata")
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                return Expect(True, 400, "invalid_metadata")
        if metadata is not None and not isinstance(metadata, dict):
            return Expect(True, 400, "invalid_metadata")
        return expect
    return ANSWER  # a session_request alone: confirmed


def agent_expectation(case: Case) -> Expect:
    if case.token != "valid":
        return Expect(True, 401)
    if case.path == AGENT_HISTORY:
        claimed = (case.query or {}).get("agent_id")
        session = (case.query or {}).get("session")
        if claimed is not None and claimed != "{agent}":
            return Expect(True, 403, "forbidden")
        if not (isinstance(session, str) and SESSION.fullmatch(session)):
            return Expect(True, 400, "bad_request")
        return Expect(False, silent_ok=True)
    if len(case.body) > MAX_BODY_BYTES:
        return Expect(True, 413, "payload_too_large")
    try:
        data = json.loads(case.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return Expect(True, 400, "bad_request")
    if not isinstance(data, dict):
        return Expect(True, 400, "bad_request")
    if data.get("agent_id") is not None and data.get("agent_id") != "{agent}":
        return Expect(True, 403, "forbidden")
    session = data.get("session")
    if not (isinstance(session, str) and SESSION.fullmatch(session)):
        return Expect(True, 400, "bad_request")
    expect = message_expectation(data.get("message"), AGENT_MAX_MESSAGE_CHARS)
    if expect.refused:
        return Expect(True, 400, "bad_request")  # the agent channel's one code; its message names the field
    return expect


# --- building blocks ---------------------------------------------------------------------------------------

_text_chars = st.characters(exclude_categories=("Cs",))  # lone surrogates come escaped in JSON, below
odd_texts = st.one_of(
    st.text(_text_chars, min_size=1, max_size=300),
    st.lists(st.sampled_from(SPECIAL), min_size=1, max_size=40).map("".join),
    st.tuples(st.sampled_from(QUESTIONS), st.text(_text_chars, max_size=40)).map(" ".join),
    st.tuples(st.sampled_from(QUESTIONS), st.sampled_from(SQL + HTML + FORMAT + PHI_LIKE)).map(" ".join),
    st.sampled_from(SQL + HTML + FORMAT + RASA + PHI_LIKE),
    st.lists(
        st.sampled_from(["auth", "PA", "27447", "ER", "denied", "the", "??", "G89.18", "<b>", "'"]), min_size=1
    ).map(" ".join),
    st.binary(min_size=1, max_size=200).map(lambda b: b.decode("latin-1")),
)
# Sizes around the limits: a short unit repeated to a length in [limit - 50, limit + 200].
long_texts = st.tuples(st.text(_text_chars, min_size=1, max_size=8), st.integers(3950, 4200)).map(
    lambda t: (t[0] * math.ceil(t[1] / len(t[0])))[: t[1]]
)
# Lone surrogates: sent escaped in JSON ("\ud800"), they reach the server as text that is not Unicode.
surrogate_texts = st.tuples(st.sampled_from(QUESTIONS), st.sampled_from(["\ud800", "\udfff", "\udc00\ud800"])).map(
    "".join
)
empty_texts = st.sampled_from(["", " ", "\n\t ", "\u3000", "\u00a0", "\u2028"])
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(_text_chars, max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
non_strings = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(json_scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), json_scalars, max_size=3),
)
odd_ids = st.one_of(
    st.text(_text_chars, min_size=1, max_size=40),
    st.sampled_from(
        ["", " ", "a b", "x" * 129, "agent:a:b", "agent:x", "héllo", "../../etc", "a\nb", "👍", "a;DROP TABLE"]
    ),
    st.text(st.sampled_from("abc:._@-"), min_size=129, max_size=200),
)
extra_fields = st.dictionaries(
    st.sampled_from(["customData", "metadata", "input_channel", "x", "__proto__", "constructor", "sender_id", "text"]),
    json_values,
    max_size=3,
)


def _valid_sender(value: object) -> bool:
    """A valid id would start a conversation under a name the run cannot attribute: such draws are skipped."""
    return isinstance(value, str) and bool(SENDER.fullmatch(value)) and not value.startswith("agent:")


def _dumps(value: object, ascii_: bool) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=ascii_).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: only as escapes
        return json.dumps(value).encode("utf-8")


def _deep(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


# --- REST --------------------------------------------------------------------------------------------------


@st.composite
def rest_text_case(draw) -> Case:
    message = draw(st.one_of(odd_texts, odd_texts, odd_texts, long_texts, empty_texts, surrogate_texts))
    envelope = {"sender": SENDER_SLOT, "message": message}
    if draw(st.booleans()):
        envelope.update(draw(st.dictionaries(st.sampled_from(["customData", "x"]), json_values, max_size=2)))
    return Case("rest", "text", body=_dumps(envelope, draw(st.booleans())))


@st.composite
def rest_envelope_case(draw) -> Case:
    kind = draw(
        st.sampled_from(["sender-type", "sender-value", "message-type", "missing", "extra", "metadata", "channel"])
    )
    envelope: dict = {"sender": SENDER_SLOT, "message": draw(st.sampled_from(QUESTIONS))}
    if kind == "sender-type":
        envelope["sender"] = draw(non_strings)
    elif kind == "sender-value":
        envelope["sender"] = draw(odd_ids.filter(lambda v: not _valid_sender(v)))
    elif kind == "message-type":
        envelope["message"] = draw(non_strings)
    elif kind == "missing":
        for key in draw(st.lists(st.sampled_from(["sender", "message"]), min_size=1, unique=True)):
            del envelope[key]
    elif kind == "extra":
        envelope.update(draw(extra_fields))
    elif kind == "metadata":
        envelope["metadata"] = draw(json_values)
    else:
        envelope["input_channel"] = draw(
            st.one_of(json_values, odd_ids, st.sampled_from(["rest", "socketio", "agent"]))
        )
    return Case("rest", f"envelope-{kind}", body=_dumps(envelope, draw(st.booleans())))


@st.composite
def rest_body_case(draw) -> Case:
    kind = draw(
        st.sampled_from(
            ["binary", "not-object", "truncated", "broken", "deep", "encoding", "surrogate", "nul", "huge", "empty"]
        )
    )
    valid = _dumps({"sender": SENDER_SLOT, "message": draw(st.sampled_from(QUESTIONS))}, True)
    if kind == "binary":
        body = draw(st.binary(max_size=3000))
    elif kind == "not-object":
        body = _dumps(draw(st.one_of(json_scalars, st.lists(json_values, max_size=4))), draw(st.booleans()))
    elif kind == "truncated":
        body = valid[: draw(st.integers(0, len(valid) - 1))]
    elif kind == "broken":
        body = draw(
            st.sampled_from(
                [
                    b"{",
                    b"{]",
                    b"{'sender': 'a', 'message': 'b'}",
                    b'{"sender": NaN, "message": "b"}',
                    b'{"sender": "a", "message": Infinity}',
                    b'{"a": 1e999}',
                    b'{"sender": "'
                    + SENDER_SLOT.encode()
                    + b'", "message": "hi", "metadata": {"a": NaN, "b": -Infinity}}',
                    b"sender=a&message=b",
                    b"<xml/>",
                    valid + b"}",
                    valid.replace(b",", b""),
                    valid.replace(b'"', b"'"),
                ]
            )
        )
    elif kind == "deep":
        body = _deep(draw(st.integers(100, 8000)), draw(st.sampled_from(["list", "object"])))
    elif kind == "encoding":
        codec = draw(st.sampled_from(["utf-16", "utf-16-be", "utf-32", "latin-1", "cp1252", "utf-8-sig"]))
        text = draw(st.sampled_from(["café", "does 27447 need PA?", "naïve ☃"]))
        body = json.dumps({"sender": SENDER_SLOT, "message": text}, ensure_ascii=False).encode(codec, "replace")
    elif kind in ("surrogate", "nul"):
        escape = (
            draw(st.sampled_from(["\\ud800", "\\udfff", "\\udc00\\ud800", "\\ud83d"]))
            if kind == "surrogate"
            else "\\u0000"
        )
        around = draw(
            st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\'), max_size=20)
        )
        body = ('{"sender": "' + SENDER_SLOT + '", "message": "' + around + escape + around + '"}').encode()
    elif kind == "huge":
        body = (
            b'{"sender": "'
            + SENDER_SLOT.encode()
            + b'", "message": "'
            + b"z" * draw(st.integers(16_400, 40_000))
            + b'"}'
        )
    else:
        body = draw(st.sampled_from([b"", b" ", b"\n\t ", b"\x00"]))
    return Case("rest", f"body-{kind}", body=body)


@st.composite
def rest_http_case(draw) -> Case:
    kind = draw(st.sampled_from(["method", "path", "content-type"]))
    valid = _dumps({"sender": SENDER_SLOT, "message": draw(st.sampled_from(QUESTIONS))}, True)
    if kind == "method":
        return Case("rest", "http-method", method=draw(st.sampled_from(["GET", "PUT", "DELETE", "PATCH"])), body=valid)
    if kind == "path":
        path = draw(
            st.sampled_from(["/webhooks/rest/", "/webhooks/nope/webhook", "/webhooks/", "/webhooks/rest/webhook/x"])
        )
        return Case("rest", "http-path", path=path, body=valid)
    content_type = draw(
        st.sampled_from(
            [
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
                "application/xml",
                "application/json; charset=latin-1",
                "",
                "application/json\x01",
            ]
        )
    )
    return Case("rest", "http-content-type", body=valid, headers={"Content-Type": content_type})


rest_cases = st.one_of(
    rest_text_case(), rest_text_case(), rest_text_case(), rest_envelope_case(), rest_body_case(), rest_http_case()
)


# --- socket.io ---------------------------------------------------------------------------------------------


@st.composite
def socketio_case(draw) -> Case:
    kind = draw(
        st.sampled_from(["text", "text", "text", "payload", "session-id", "session-request", "metadata", "args"])
    )
    confirm = ("session_request", ({"session_id": SESSION_SLOT},))
    message = {"message": draw(st.sampled_from(QUESTIONS)), "session_id": SESSION_SLOT}
    if kind == "text":
        message["message"] = draw(
            st.one_of(odd_texts, odd_texts, long_texts, empty_texts, surrogate_texts, non_strings)
        )
        if draw(st.booleans()):
            message["customData"] = draw(json_values)
        events = [confirm, ("user_uttered", (message,))]
    elif kind == "payload":
        events = [confirm, ("user_uttered", (draw(st.one_of(json_scalars, st.lists(json_values, max_size=3))),))]
    elif kind == "session-id":
        message["session_id"] = draw(st.one_of(non_strings, odd_ids).filter(lambda v: not _valid_sender(v)))
        events = [confirm, ("user_uttered", (message,))]
    elif kind == "session-request":
        payload = draw(
            st.one_of(
                st.none(),
                json_scalars,
                st.lists(json_values, max_size=3),
                st.fixed_dictionaries({"session_id": st.one_of(non_strings, odd_ids)}),
                st.fixed_dictionaries({"session_id": st.just(SESSION_SLOT)}, optional={"x": json_values}),
            )
        )
        events = [("session_request", (payload,))]
    elif kind == "metadata":
        message["metadata"] = draw(st.one_of(json_values, st.text(max_size=20), json_values.map(json.dumps)))
        events = [confirm, ("user_uttered", (message,))]
    else:  # another number of arguments
        args = draw(st.one_of(st.just(()), st.lists(json_values, min_size=2, max_size=3).map(tuple)))
        events = [confirm, (draw(st.sampled_from(["user_uttered", "session_request"])), args)]
    return Case("socketio", f"sio-{kind}", method="EMIT", path="/socket.io/", events=events)


# --- agent channel -----------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


NOT_A_NUMBER = st.one_of(
    st.text(max_size=10),
    st.none(),
    st.lists(json_scalars, max_size=2),
    st.dictionaries(st.text(max_size=3), json_scalars, max_size=2),
)
# (claims to set, claims to drop, header fields): each makes a token signed with the right key invalid.
signed_breakages = st.one_of(
    st.tuples(
        st.just({}), st.lists(st.sampled_from(["sub", "aud", "iat", "exp"]), min_size=1, unique=True), st.just({})
    ),
    st.tuples(
        st.fixed_dictionaries({"exp": st.one_of(NOT_A_NUMBER, st.integers(0, 1_600_000_000))}), st.just([]), st.just({})
    ),
    st.tuples(st.fixed_dictionaries({"iat": NOT_A_NUMBER}), st.just([]), st.just({})),
    st.tuples(st.fixed_dictionaries({"iat": st.just("FUTURE")}), st.just([]), st.just({})),
    st.tuples(st.fixed_dictionaries({"nbf": st.just("FUTURE")}), st.just([]), st.just({})),
    st.tuples(st.fixed_dictionaries({"exp": st.just("TOO_LONG")}), st.just([]), st.just({})),
    st.tuples(
        st.fixed_dictionaries(
            {
                "aud": st.one_of(
                    st.text(max_size=20), st.lists(st.text(max_size=5), max_size=2), st.none(), st.integers()
                )
            }
        ),
        st.just([]),
        st.just({}),
    ),
    st.tuples(
        st.fixed_dictionaries(
            {
                "sub": st.one_of(non_strings, odd_ids).filter(
                    lambda v: not (isinstance(v, str) and AGENT_ID.fullmatch(v))
                )
            }
        ),
        st.just([]),
        st.just({}),
    ),
    st.tuples(st.just({}), st.just([]), st.fixed_dictionaries({"alg": st.sampled_from(["HS384", "HS512"])})),
)


@st.composite
def forged_tokens(draw) -> object:
    """Authorization header values that must not sign anyone in."""
    kind = draw(st.sampled_from(["scheme", "garbage", "alg-none", "wrong-key", "claims", "header", "signed", "signed"]))
    if kind == "signed":  # signed with the deployment's own secret (at send time), every claim set broken somehow
        return ("signed",) + draw(signed_breakages)
    if kind == "scheme":
        return draw(
            st.sampled_from(["", "Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=", "bearer", "Token abc", "Bearer  "])
        )
    if kind == "garbage":
        chars = st.characters(min_codepoint=0x20, max_codepoint=0xFF)
        return "Bearer " + draw(st.text(chars, min_size=1, max_size=300)).strip() + "x"
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"sub": "fzagent", "aud": "priorauth-agent", "iat": 1_700_000_000, "exp": 4_000_000_000}
    if kind == "alg-none":
        header["alg"] = draw(st.sampled_from(["none", "None", "NONE", ""]))
        sig = ""
    elif kind == "wrong-key":
        sig = _b64(draw(st.binary(min_size=0, max_size=64)))
    elif kind == "claims":
        claims.update(
            draw(
                st.dictionaries(
                    st.sampled_from(["sub", "aud", "iat", "exp", "jti", "iss", "nbf"]),
                    json_values,
                    min_size=1,
                    max_size=3,
                )
            )
        )
        sig = _b64(b"x" * 32)
    else:
        header = draw(
            st.one_of(
                st.dictionaries(st.sampled_from(["alg", "kid", "typ", "crit", "jku", "x5u"]), json_values, max_size=4),
                json_values,
            )
        )
        sig = _b64(b"y" * 32)
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    return f"Bearer {head}.{body}.{sig}"


@st.composite
def agent_case(draw) -> Case:
    kind = draw(st.sampled_from(["token", "token", "body", "body", "body", "text", "text", "history"]))
    valid = {"session": AGENT_SESSION_SLOT, "message": draw(st.sampled_from(QUESTIONS))}
    if kind == "token":
        token = draw(forged_tokens())
        path = draw(st.sampled_from([AGENT_WEBHOOK, AGENT_HISTORY]))
        if path == AGENT_HISTORY:
            return Case(
                "agent", "agent-token", method="GET", path=path, query={"session": AGENT_SESSION_SLOT}, token=token
            )
        return Case("agent", "agent-token", path=path, body=_dumps(valid, True), token=token)
    if kind == "history":
        query = draw(
            st.fixed_dictionaries(
                {"session": st.one_of(st.just(AGENT_SESSION_SLOT), st.text(_text_chars, max_size=80))},
                optional={"agent_id": st.one_of(st.just("{agent}"), st.text(_text_chars, min_size=1, max_size=20))},
            )
        )
        return Case("agent", "agent-history", method="GET", path=AGENT_HISTORY, query=query, token="valid")
    if kind == "text":
        message = draw(st.one_of(odd_texts, odd_texts, long_texts, empty_texts, surrogate_texts))
        if len(message) > 2100:
            message = message[: draw(st.integers(1900, 2100))]
        body = {"session": AGENT_SESSION_SLOT, "message": message}
        if draw(st.booleans()):
            body["agent_id"] = "{agent}"
        return Case("agent", "agent-text", body=_dumps(body, draw(st.booleans())), token="valid")
    shape = draw(st.sampled_from(["session", "message-type", "agent-id", "missing", "extra", "raw"]))
    if shape == "session":
        valid["session"] = draw(
            st.one_of(non_strings, odd_ids, st.text(st.sampled_from("ab_-"), min_size=65, max_size=70))
        )
    elif shape == "message-type":
        valid["message"] = draw(non_strings)
    elif shape == "agent-id":
        valid["agent_id"] = draw(st.one_of(non_strings, odd_ids, st.just("someone-else")))
    elif shape == "missing":
        for key in draw(st.lists(st.sampled_from(["session", "message"]), min_size=1, unique=True)):
            del valid[key]
    elif shape == "extra":
        valid.update(
            draw(
                st.dictionaries(
                    st.sampled_from(["metadata", "sender", "x", "agent_proof", "turns"]), json_values, max_size=3
                )
            )
        )
    if shape == "raw":
        case = draw(rest_body_case())
        body = case.body.replace(SENDER_SLOT.encode(), AGENT_SESSION_SLOT.encode()).replace(b'"sender"', b'"session"')
        return Case("agent", f"agent-body-{case.kind.removeprefix('body-')}", body=body, token="valid")
    return Case("agent", f"agent-body-{shape}", body=_dumps(valid, draw(st.booleans())), token="valid")


# --- drawing -----------------------------------------------------------------------------------------------


def draw(strategy: st.SearchStrategy, n: int, seed_value: int) -> list:
    """`n` examples of `strategy`, the same ones for the same seed: Hypothesis generates, nothing is shrunk."""
    out: list = []
    if n <= 0:
        return out

    @seed(seed_value)
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example) -> None:
        out.append(example)

    collect()
    return out[:n]


def cases(n: int, seed_value: int, shares: dict[str, float] | None = None) -> list[Case]:
    """About `n` cases over the three channels (default shares: REST 50 %, socket.io 25 %, agent 25 %), each
    with its expectation."""
    shares = shares or {"rest": 0.5, "socketio": 0.25, "agent": 0.25}
    strategies = {"rest": rest_cases, "socketio": socketio_case(), "agent": agent_case()}
    out: list[Case] = []
    for i, (channel, share) in enumerate(shares.items()):
        for case in draw(strategies[channel], round(n * share), seed_value + i):
            if channel == "agent" and case.path == REST_PATH:
                case = replace(case, path=AGENT_WEBHOOK)
            out.append(with_expectation(case))
    return out


def with_expectation(case: Case) -> Case:
    if case.channel == "rest":
        return replace(case, expect=rest_expectation(case.body, case.method, case.path))
    if case.channel == "socketio":
        probe = json.loads(json.dumps(case.events).replace(SESSION_SLOT, "fz-session"))
        return replace(case, expect=socketio_expectation([(name, list(args)) for name, args in probe]))
    return replace(case, expect=agent_expectation(case))
