"""Small, explainable cues read from a message's words where no entity carries them."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path


def _spacy_stop_words() -> frozenset[str]:
    """spaCy's English stop words, read from their module's file without importing spaCy: `import spacy` brings in
    thinc and, through it, TensorFlow (3 s and about 400 MB more for the action server, which needs only the list).
    A top-level package's spec is found without importing it."""
    path = Path(importlib.util.find_spec("spacy").origin).parent / "lang" / "en" / "stop_words.py"
    spec = importlib.util.spec_from_file_location("priorauth._spacy_en_stop_words", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return frozenset(module.STOP_WORDS)


STOP_WORDS = _spacy_stop_words()

_CONTACT_CUES = [
    ("email", re.compile(r"\be-?mail\b", re.I)),
    ("phone", re.compile(r"\b(phone|call|number|telephone|toll.?free|hours|contact center)\b", re.I)),
    (
        "portal",
        re.compile(r"\b(portal|website|web site|web address|address|online|url|link|availity|providerportal)\b", re.I),
    ),
]


_ADDRESS_RE = re.compile(r"\b(address|url|link|website|web site|web address|where do i go|log ?in page)\b", re.I)


def asks_for_address(text: str) -> bool:
    """Whether the message asks where something is (an address or link), not what it does."""
    return bool(_ADDRESS_RE.search(text or ""))


def contact_kind(text: str) -> str | None:
    """Which kind of contact route the message asks for, if it says."""
    for kind, pattern in _CONTACT_CUES:
        if pattern.search(text or ""):
            return kind
    return None


# Words that put a procedure in the patient's history, not in the question ("already had a lumbar fusion").
_HISTORY_WORDS = {"had", "tried", "already", "previous", "previously", "failed", "underwent", "history", "s/p"}
_CLAUSE_END = re.compile(r"[.?!;]|\s-\s")


def in_back_story(text: str, start: int, window: int = 6) -> bool:
    """Whether a mention at ``start`` is told as history: a history word among the few words before it."""
    before = _CLAUSE_END.split((text or "")[:start])[-1]
    words = re.findall(r"[\w/']+", before.lower())[-window:]
    return any(w in _HISTORY_WORDS for w in words)


# "How long / still valid / redo the auth / surgery got pushed": the question is how long an approval lasts.
_VALIDITY_RE = re.compile(
    r"\b(how long (is|are|does|do|will|would)\b.{0,30}\b(auth\w*|approv\w*|pa|precert\w*|good|valid|last)"
    r"|still (valid|good|cover\w*|active)|expir\w*|valid(ity)?\b|redo|re-do|resubmit|re-?request|new auth"
    r"|(got|been|was|is|being|gets) (pushed|moved|bumped|rescheduled|postponed|delayed)"
    r"|push(ed|ing)? (it |the surgery |the case )?(out|back)|reschedul\w*|postpon\w*"
    r"|auth (length|window|duration)|approval (length|window|duration))",
    re.I,
)


def asks_validity(text: str) -> bool:
    return bool(_VALIDITY_RE.search(text or ""))


_ELECTIVE_RE = re.compile(r"\b(elective|scheduled|planned|non-?emergen\w*|not (an )?emergen\w*)\b", re.I)


def says_elective(text: str) -> bool:
    """An elective, scheduled case: not an emergency presentation."""
    return bool(_ELECTIVE_RE.search(text or ""))


# Words of the question's shape, not of its subject: what is left names something the sources may not list.
_QUESTION_WORDS = set(
    """
    aim anthem auth authorization authorisation authorizations pa prior preauth precert pre cert certification
    preauthorization precertification review reviewed reviews approval approve approved need needs needed
    require required requires requirement req ok okay hi hello thanks pt patient member members doc doctor
    surgeon procedure procedures service services go thru through get submit send yes no clinical pre-service
    list anything something stuff thing things hey
    """.split()
)


def names_something(text: str, entities: list[dict]) -> bool:
    """Whether the message names a subject beyond the question's own words and the entities found."""
    covered = [(e["start"], e["end"]) for e in entities or [] if "start" in e and "end" in e]
    for match in re.finditer(r"[a-z][a-z'/-]+", (text or "").lower()):
        word = match.group(0).strip("'/-")
        if any(s <= match.start() < e for s, e in covered) or len(word) < 3:
            continue
        if word not in _QUESTION_WORDS and word not in STOP_WORDS:
            return True
    return False


_IF_REQUIRED_RE = re.compile(
    r"\b(have|need|got|must)\s+to\s+(contact|call|go\s+(through|thru)|submit\s+to|notify|tell|involve)\s+AIM\b", re.I
)


def asks_if_required(text: str) -> bool:
    """Whether the message asks if AIM must be involved at all ("so we don't have to contact AIM?")."""
    return bool(_IF_REQUIRED_RE.search(text or ""))


# "Does it need review / approval?": the shape of a review question, whatever else the message says.
_REVIEW_SHAPE_RE = re.compile(
    r"\b(need|needs|needed|require|requires|required|requiring|subject\s+to|go|goes|going)\b[^.?!]{0,30}"
    r"\b(review|reviewed|auth\w*|approval|PA|precert\w*|pre-?auth\w*|pre-?cert\w*|AIM)\b"
    r"|\b(review|auth\w*|approval|PA|precert\w*|pre-?auth\w*)\b[^.?!]{0,25}\b(required|needed|necessary)\b"
    r"|\b(is|does|do|will|would)\s+(that|this|it|AIM|they|those)\b[^.?!]{0,20}\breview"
    # Terse queries: "PT auth req?", "reviewed by AIM?", "OT/ST - AIM rehab?"
    r"|\b(PA|auth\w*|precert\w*|pre-?auth\w*|review)\s+(req|reqd|req'd|needed|required)\b"
    r"|\breviewed\s+(by|through|thru)\s+AIM\b"
    r"|\s[-–]\s*AIM\b[^.!]{0,20}\?"
    # "is it still in the program?", "is that also covered by AIM?"
    r"|\b(still|also)\s+(in\s+the\s+program|part\s+of\s+the\s+program|included|covered\s+by|reviewed)\b",
    re.I,
)


def asks_if_reviewed(text: str) -> bool:
    return bool(_REVIEW_SHAPE_RE.search(text or ""))


_HOW_EARLY_RE = re.compile(
    r"\b(how\s+(early|soon)|earliest|when\s+can\s+(we|i)\s+(start\s+)?(submit|send|enter|request))\b", re.I
)


def asks_how_early(text: str) -> bool:
    """Whether the message asks how early a request may be sent (a program's start dates)."""
    return bool(_HOW_EARLY_RE.search(text or ""))


_WHO_TO_CONTACT_RE = re.compile(
    r"\bwho\s+(can|could|do|should|would)\s+(i|we)\s+(talk|speak|call|contact|reach|ask)\b"
    r"|\b(is\s+there\s+)?(someone|anyone|somebody)\s+(i|we)\s+can\s+(talk|speak|call)\b",
    re.I,
)


def asks_who_to_contact(text: str) -> bool:
    """Whether the message asks whom to talk to (a contact route), whatever the subject of the talk."""
    return bool(_WHO_TO_CONTACT_RE.search(text or ""))


_DENIAL_TOPIC_RES = (
    ("reconsideration", re.compile(r"\b(recon\w*|reconsider\w*)\b", re.I)),
    ("peer_to_peer", re.compile(r"\b(p2p|peer[\s-]*to[\s-]*peer)\b", re.I)),
)


def denial_topic_named(text: str) -> str | None:
    """The after-a-denial route the message names ("the reconsideration deadline"), if any."""
    for topic, pattern in _DENIAL_TOPIC_RES:
        if pattern.search(text or ""):
            return topic
    return None


_FACET_RE = re.compile(
    r"\b(mbbs?|rfas?|rfns?|rfa's|medial\s+branch|facet\w*|radio\s*frequency|rhizotomy|neurotomy|ablat\w*)\b", re.I
)
_FUSION_RE = re.compile(r"\b(fusions?|fused|arthrodesis|post[- ]?fusion)\b", re.I)


def facet_after_fusion(text: str, fusion_in_context: bool = False) -> bool:
    """A facet procedure (MBB, RFA) for a patient with a spinal fusion: the guideline update of 004 answers it.

    ``fusion_in_context``: the conversation was already about that guideline ("what about an RFA instead?")."""
    return bool(_FACET_RE.search(text or "")) and (fusion_in_context or bool(_FUSION_RE.search(text or "")))


_TERSE_REVIEW_RE = re.compile(
    r"(?:^|[\s:,;-])(pa|auth|aim|precert|pre-?auth|prior\s+auth(?:orization)?|review)\s*\?+\s*$", re.I
)
_SHAPE_WORDS_RE = re.compile(
    r"\b(does|do|is|are|an?|the|needs?|requires?|required|prior|auth\w*|pa|aim|precert\w*|pre-?auth\w*|reviewed|"
    r"review|through|by|via|for|go|get|it|this|that|we|i|still|what|which|who|how|when|where|why|can|could|"
    r"should|will|would|about)\b",
    re.I,
)
SUBJECT_WORDS = 5
_NOT_A_SUBJECT_RE = re.compile(r"^(in|at|on|to|from|during|after|before|with|too|also|again)\b", re.I)


def unlisted_subject(text: str) -> str | None:
    """The subject of a review question that names nothing the matcher knows ("trigger pt inj - AIM?" ->
    "trigger pt inj"), or None when the message is not shaped like one or leaves more than a short phrase."""
    if not (_TERSE_REVIEW_RE.search(text or "") or asks_if_reviewed(text)):
        return None
    phrase = " ".join(re.sub(r"[^\w\s/.]|(?<!\w)\.|\.(?!\w)", " ", _SHAPE_WORDS_RE.sub(" ", text)).split())
    if not phrase or len(phrase.split()) > SUBJECT_WORDS or _NOT_A_SUBJECT_RE.match(phrase):
        return None  # "does AIM review it in the hospital too?" names a place, not a service
    return phrase


_OTHER_PAYER_RE = re.compile(
    r"\b(cigna|aetna|united\s*health\s*care|unitedhealthcare|uhc|humana|kaiser|tricare|molina|centene|wellcare|"
    r"ambetter|oscar health)\b",
    re.I,
)
_PAYMENT_RE = re.compile(
    r"\b(reimburs\w*|co-?pays?|deductibles?|co-?insurance|fee schedule|allowed amount|payment rates?|pay rates?|"
    r"how much (?:does|will|do|would) \w+(?: \w+)? (?:pay|reimburse))\b",
    re.I,
)


def outside_sources(text: str) -> bool:
    """A question the sources cannot answer whatever it names: another payer's rules, or payment (reimbursement,
    copays, deductibles). The procedure it names must not turn it into a review answer."""
    return bool(_OTHER_PAYER_RE.search(text or "") or _PAYMENT_RE.search(text or ""))


# "What info do I need to have ready before I call AIM?" (not "... to register").
_PREPARE_RE = re.compile(
    r"^(?!.*\b(?:regist\w*|sign\s*up|sign-up|account|log\s*in|login)\b)"
    r".*\b(?:what|which)\s+(?:info|information|details|documents?|documentation|records?|clinicals?)\b[^?.!]{0,60}"
    r"\b(?:need|needed|have\s+ready|prepare|gather|required|ask\s+for|asked\s+for)\b",
    re.I | re.S,
)
# "If the peer to peer doesn't go our way, what are our options?": a denial (or one feared) and what to do next.
_AFTER_DENIAL_RE = re.compile(
    r"^(?=.*(?:\b(?:doesn.t|does\s+not|didn.t|did\s+not|don.t)\s+(?:go\s+(?:our|my|the\s+doc.s)\s+way|work\s+out"
    r"|get\s+approved)|\b(?:denied|denial|not\s+approved|turned\s+down|upheld|adverse\s+(?:decision|determination))\b))"
    r".*\b(?:options?|what\s+(?:now|next|else|can\s+we\s+do)|anything\s+else|next\s+steps?)\b",
    re.I | re.S,
)


def _cue(pattern: re.Pattern) -> Callable[[str], bool]:
    """Whether a message says what ``pattern`` looks for (None and "" say nothing)."""
    return lambda text: bool(pattern.search(text or ""))


asks_for_fax = _cue(re.compile(r"\bfax(es|ed|ing)?\b", re.I))  # no source gives AIM a fax number
asks_what_to_prepare = _cue(_PREPARE_RE)
asks_options_after_denial = _cue(_AFTER_DENIAL_RE)


# "Does AIM review power wheelchairs or other DME?": the thing asked about, when the question is about a kind of
# service (not about how requests, cases or criteria are reviewed).
_REVIEWS_WHAT_RE = re.compile(
    r"\b(?:does|do|will|would|can)\s+AIM\s+(?:also\s+)?(?:review|cover|handle|manage)\s+(?P<a>[^?.!;]{3,60})"
    r"|\b(?:is|are)\s+(?P<b>[^?.!;]{3,60}?)\s+(?:reviewed|handled|managed)\s+by\s+AIM\b",
    re.I,
)
_PROCESS_WORDS_RE = re.compile(
    r"^(?:the\s+|a\s+|an\s+|my\s+|our\s+|these\s+|those\s+)?(?:requests?|cases?|orders?|claims?|appeals?|denials?|"
    r"auth\w*|it|them|this|that|these|those|everything|all|any\w*|every\w*|which|what|how|medical|clinical|"
    r"criteria|guidelines?|documentation|records?|settings?|sites?|locations?|levels?|in|on|for|with|before|after|"
    # a setting or a generic word is not a kind of service: "outpatient procedures", "elective surgeries"
    r"outpatient|inpatient|emergen\w*|elective|hospital\w*|office\w*|ascs?|surger\w*|procedures?|services?|tests?|"
    r"treatments?|members?|patients?|plans?|programs?)\b",
    re.I,
)


def service_asked_about(text: str) -> str | None:
    """The kind of service a "does AIM review X?" question names ("power wheelchairs or other DME"), or None."""
    match = _REVIEWS_WHAT_RE.search(text or "")
    if not match:
        return None
    subject = " ".join((match.group("a") or match.group("b") or "").split())
    return None if not subject or _PROCESS_WORDS_RE.match(subject) else subject
