"""Pulls labelled draft fields ("dob 3/4/1960, CPT 27447 ...") out of one free-text message.

The result holds raw strings; the validators decide whether they are acceptable. A message
without labels is the answer to the field the form just asked for (``expected``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from priorauth.dates import DATE
from priorauth.drafts.validators import FIELDS, SETTING_SYNONYMS, normalize_setting

_DATE = rf"(?:{DATE}|today|tomorrow)"
_NUMBER_WORD = r"(?:\s*(?:#|number|no\.?))?"

# (field, pattern, weak): a weak label never interrupts a free-text reason.
_LABELS: tuple[tuple[str, str, bool], ...] = (
    (
        "member_id",
        rf"(?:member|subscriber|mbr|patient|insurance)\s*(?:id|#|number|no\.?){_NUMBER_WORD}",
        False,
    ),
    ("member_id", r"id(?=\s*[:#]?\s*[a-z]*\d)", False),
    ("member_dob", r"d\.?o\.?b\.?|date\s+of\s+birth|birth\s*date|born(?:\s+on)?", False),
    (
        "servicing_npi",
        r"(?:servicing|rendering|performing|facility)(?:\s+(?:provider|facility|physician|surgeon))?"
        rf"(?:'s)?\s+npi{_NUMBER_WORD}",
        False,
    ),
    (
        "ordering_npi",
        r"(?:ordering|referring|requesting)(?:\s+(?:provider|physician|doctor|md))?"
        rf"(?:'s)?\s+npi{_NUMBER_WORD}",
        False,
    ),
    ("npi", rf"npi{_NUMBER_WORD}", False),
    (
        "ordering_tax_id",
        rf"(?:federal\s+)?tax\s*(?:payer\s*)?id(?:entification)?{_NUMBER_WORD}|tin|f?ein",
        False,
    ),
    ("facility_name", r"(?:servicing\s+)?facility(?:\s+name)?|hospital\s+name", False),
    ("facility_name", r"at(?-i:(?=\s+(?:the\s+)?[A-Z0-9]))", True),
    ("setting", r"setting|place\s+of\s+service|site\s+of\s+(?:service|care)|pos(?=\s*\d)", False),
    (
        "procedure_codes",
        r"(?:cpt|hcpcs)s?(?:\s+codes?)?|procedure\s+codes?|procedures?|proc|px",
        False,
    ),
    (
        "diagnosis_codes",
        r"dx|diagnos[ie]s(?:\s+codes?)?|icd[\s\-]?10(?:[\s\-]?cm)?(?:\s+codes?)?|icd(?:\s+codes?)?",
        False,
    ),
    (
        "date_of_service",
        r"dos|date\s+of\s+service|service\s+date|(?:surgery|procedure)\s+date"
        r"|scheduled(?:\s+(?:for|on))?",
        False,
    ),
    ("date_of_service", rf"on(?=\s+{_DATE}\b)", True),
    (
        "site_of_care_reason",
        r"site[\s\-]+of[\s\-]+care\s+reason|reason(?:\s+for\s+(?:the\s+)?\w+)?"
        r"|medical(?:ly)?\s+necess(?:ary|ity)(?:\s+because)?|because",
        False,
    ),
)
_LABEL_RES = [(name, re.compile(rf"\b(?:{pattern})", re.I), weak) for name, pattern, weak in _LABELS]

_FILLER = re.compile(
    r"^(?:(?:it'?s|it\s+is|that'?s|that\s+is|this\s+is|sure|ok(?:ay)?|yes|yeah|here(?:'s|\s+is)?"
    r"|the\s+(?:\w+\s+)?is)\b[\s,:.\-]*)+",
    re.I,
)
_LEAD = re.compile(r"^[\s:=#\-–,.]*(?:(?:is|are|was|of|number|no\.?|#)(?:\s+|(?=\d))[\s:=#\-–]*)*", re.I)
_TRAIL = re.compile(r"(?:[\s,;.]+|\s+(?:and|with|for))+$", re.I)
# Words before a corrected value ("is actually 1245319599", "should read 98-7654321").
_FILLER_WORDS = re.compile(
    r"^(?:\W*\b(?:actually|really|now|use|read|reads|should|be|is|it|it's|the|new|right|correct|one|wrong"
    r"|please)\b)+\W*",
    re.I,
)
_DATE_RE = re.compile(rf"\b{_DATE}\b", re.I)
_IDENTIFIER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]|\s(?=\d))*")
_CODE_TOKEN = re.compile(r"[A-Za-z0-9.]+|[,;/&]")
_CODE_SHAPE = re.compile(r"^[A-Za-z]?\d[A-Za-z0-9.]{2,6}$")
_SETTING_WORDS = re.compile(
    r"\b(?:"
    + "|".join(
        re.escape(word).replace(r"\ ", r"\s+")
        for word in sorted(SETTING_SYNONYMS, key=len, reverse=True)
        if not word.isdigit()  # a bare number in free text is not a setting
    )
    + r")\b",
    re.I,
)

_DATE_FIELDS = ("member_dob", "date_of_service")
_ID_FIELDS = ("member_id", "ordering_npi", "servicing_npi", "ordering_tax_id")
_CODE_FIELDS = ("procedure_codes", "diagnosis_codes")
_NPI_FIELDS = ("ordering_npi", "servicing_npi")


@dataclass(frozen=True)
class _Label:
    field: str
    start: int
    end: int
    weak: bool


def extract_fields(text: str, expected: str | None = None) -> dict[str, str]:
    """Map each draft field found in ``text`` to its raw value, in form order.

    Unlabelled input (or a leading unlabelled part holding a digit) goes to ``expected``.
    """
    if expected is not None and expected not in FIELDS:
        raise ValueError(f"unknown draft field {expected!r}; expected one of {', '.join(FIELDS)}")
    text = " ".join(str(text or "").split())
    if expected == "site_of_care_reason":  # free text: labels inside it are part of the reason
        reason = _clean(_strip_label(text, "site_of_care_reason"))
        return {expected: reason} if reason else {}
    found: dict[str, str] = {}
    leftovers: list[str] = []
    labels = _find_labels(text)
    prefix = text[: labels[0].start] if labels else text
    _assign_unlabelled(found, leftovers, prefix, expected, bool(labels))
    for index, label in enumerate(labels):
        end = labels[index + 1].start if index + 1 < len(labels) else len(text)
        _assign(found, leftovers, label.field, _clean_lead(text[label.end : end]), expected)
    if "setting" not in found:
        _setting_from(found, leftovers)
    return {name: found[name] for name in FIELDS if found.get(name)}


def _find_labels(text: str) -> list[_Label]:
    matches = sorted(
        (_Label(name, m.start(), m.end(), weak) for name, regex, weak in _LABEL_RES for m in regex.finditer(text)),
        key=lambda label: (label.start, label.start - label.end),
    )
    kept: list[_Label] = []
    in_reason = False
    for label in matches:
        if kept and label.start < kept[-1].end:
            continue  # overlaps a longer or earlier label
        if in_reason and label.weak:
            continue
        kept.append(label)
        in_reason = label.field == "site_of_care_reason"
    return kept


def _strip_label(text: str, field: str) -> str:
    for name, regex, _weak in _LABEL_RES:
        match = regex.match(text)
        if name == field and match:
            return _clean_lead(text[match.end() :])
    return text


def _assign_unlabelled(found, leftovers, prefix: str, expected, has_labels: bool) -> None:
    prefix = _clean_lead(_FILLER.sub("", prefix.strip()))
    if not prefix:
        return
    if expected and (not has_labels or re.search(r"\d", prefix)):
        _assign(found, leftovers, expected, prefix, expected)
    else:
        leftovers.append(prefix)


def _assign(found: dict, leftovers: list, field: str, segment: str, expected) -> None:
    if field == "npi":
        field = _which_npi(found, expected)
    value, rest = _value_of(field, segment)
    if field == "facility_name":
        value = _split_facility(found, value)
    if rest:
        leftovers.append(rest)
    if not value:
        return
    if field in _CODE_FIELDS and found.get(field):
        found[field] = f"{found[field]}, {value}"
    else:
        found.setdefault(field, value)


def _which_npi(found: dict, expected) -> str:
    if expected in _NPI_FIELDS and expected not in found:
        return expected
    return "ordering_npi" if "ordering_npi" not in found else "servicing_npi"


def _value_of(field: str, segment: str) -> tuple[str, str]:
    """Split a labelled segment into the field's raw value and the unclaimed rest."""
    # A date or an ID is found past words around it ("it's 7/9/1962", "is wrong, use 1234567893").
    if field in _DATE_FIELDS and (match := _DATE_RE.search(segment)):
        return match.group(0), segment[match.end() :]
    match = _first_with_digit(segment) if field in _ID_FIELDS else None
    if match:
        return _clean(match.group(0)), segment[match.end() :]
    if field in _CODE_FIELDS:
        return _codes(segment)
    if field == "site_of_care_reason":
        return _clean(segment), ""
    clause, _, rest = segment.partition(",") if "," in segment else segment.partition(";")
    return _clean(clause), rest


def _first_with_digit(segment: str) -> re.Match | None:
    segment_start = _FILLER_WORDS.match(segment)
    start = segment_start.end() if segment_start else 0
    return next((m for m in _IDENTIFIER.finditer(segment, start) if re.search(r"\d", m.group(0))), None)


def _codes(segment: str) -> tuple[str, str]:
    codes: list[str] = []
    end = 0
    for token in _CODE_TOKEN.finditer(segment):
        word = token.group(0)
        if _CODE_SHAPE.match(word.rstrip(".")):
            codes.append(word.rstrip("."))
        elif word.lower() not in {",", ";", "/", "&", "and", "code", "codes"}:
            break
        end = token.end()
    if not codes:
        return _clean(re.split(r"[,;]", segment, maxsplit=1)[0]), ""
    return ", ".join(codes), segment[end:]


def _split_facility(found: dict, name: str) -> str:
    """Take a trailing lower-case or bracketed setting off a facility name ("Mercy outpatient")."""
    if normalize_setting(name):  # "at the ASC" names a setting, not a facility
        found.setdefault("setting", name)
        return ""
    tokens = name.split()
    for cut in range(1, len(tokens)):
        tail = tokens[cut:]
        plain = " ".join(tail).strip("()")
        if all(t.islower() or t.startswith("(") or t.endswith(")") for t in tail) and normalize_setting(plain):
            found.setdefault("setting", plain)
            return " ".join(tokens[:cut])
    return name


def _setting_from(found: dict, leftovers: list[str]) -> None:
    for text in leftovers:
        if match := _SETTING_WORDS.search(text):
            found["setting"] = match.group(0)
            return


def _clean_lead(text: str) -> str:
    return _LEAD.sub("", text, count=1).strip()


def _clean(text: str) -> str:
    return _TRAIL.sub("", _clean_lead(text)).strip()
