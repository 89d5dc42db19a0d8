"""Masks member ids and dates of birth in log records, whichever logger or handler they go through.

`install()` masks every record made from then on in the process (a log-record factory, so records of
every library - Rasa's structlog output, Sanic, SQLAlchemy - and handlers added later are covered);
`PhiMaskingFilter` does the same as a `logging.Filter` for a logging config file. Both are cheap: a
message without a digit is left alone (member ids and dates always have one).

What is masked, in the message, its arguments, and formatted tracebacks:
- a member id after a label ("member id XYZ123456789", "subscriber #: 1234 5678 90", "member_id=...",
  "'draft_member_id': '...'") -> "****6789" (the last four characters, as in draft audit entries);
- a date of birth after a label ("dob 3/4/1961", "date of birth: March 4, 1961", "member_dob=1961-03-04")
  -> "**/**/****";
- any other date (3/4/1961, 03-04-61, 1961-03-04, 04.03.1961, March 4, 1961, 4th of March 1961) -> "**/**/****",
  except an ISO date followed by a time (a log timestamp);
- anything shaped like an unlabelled member id: one to four letters and 6-17 digits ("XYZ123456789",
  "H123456789"), or a bare run of 9-20 digits (this also masks NPIs and tax ids; decimals such as 0.123456789 and epoch
  timestamps with a fraction are left alone) -> "****6789".
Not covered: values passed in a record's `extra` dict (set after the factory runs) and text written to
stdout/stderr without `logging`.
"""

from __future__ import annotations

import logging
import re
import threading

from priorauth.dates import DATE

MASKED_DATE = "**/**/****"

_DIGIT = re.compile(r"\d")
# After a date-of-birth label anything shaped like a date is masked, whatever its year's length (1961/3/4, 19610304).
_LABELLED_DATE = rf"(?:{DATE}|\d{{1,4}}[/.\-]\d{{1,2}}[/.\-]\d{{1,4}}|\d{{8}})"
# Without a label: a date, but not a log timestamp (an ISO date, then a time).
_UNLABELLED_DATE = rf"(?!\d{{4}}-\d{{1,2}}-\d{{1,2}}[ T]\d{{1,2}}:){DATE}"
# Member id value: an optional short letter prefix, then a chunk with a digit, then digit groups.
_ID_VALUE = r"(?:[A-Za-z]{1,4}[ \-]?)?\d[A-Za-z0-9]*(?:[ \-]\d+)*"
_QUOTE_SEP = r"[\"']?\s*[:=#]?\s*(?:is\s+)?[\"']?\s*"

_PATTERN = re.compile(
    "|".join(
        [
            # labelled member id
            r"(?P<idlabel>\b(?:draft_)?member_?id\b|\b(?:member|subscriber|mbr|insurance|insured|patient)"
            r"[\s_\-]*(?:id\b|#|number\b|num\b|no\b\.?))"
            rf"(?P<idsep>{_QUOTE_SEP})(?P<idvalue>{_ID_VALUE})",
            # labelled date of birth
            r"(?P<doblabel>\b(?:draft_)?member_dob\b|\bd\.?o\.?b\b\.?|\bdate[\s_]+of[\s_]+birth\b|\bbirth[\s_]*date\b"
            r"|\bbirthday\b|\bborn(?:\s+on)?\b)"
            rf"(?P<dobsep>{_QUOTE_SEP})(?P<dobvalue>{_LABELLED_DATE})",
            # unlabelled dates
            rf"(?P<date>{_UNLABELLED_DATE})",
            # unlabelled member-id shapes
            r"(?P<idshape>\b[A-Za-z]{1,4}\d{6,17}\b|(?<![\w.\-])\d{9,20}(?!\w|\.\d))",
        ]
    ),
    re.IGNORECASE,
)


def mask_member_id(value: str | None) -> str | None:
    """Keep the last four letters or digits: "XYZ 1234-56789" -> "****6789"; no id stays None.

    The one masking of a member id: log lines here, and the drafts' audit trail and summaries."""
    if not value:
        return None
    compact = re.sub(r"[^A-Za-z0-9]", "", value)
    return "****" + (compact[-4:] if len(compact) > 4 else "")


def _replace(match: re.Match) -> str:
    if match.group("idvalue") is not None:
        return match.group("idlabel") + match.group("idsep") + mask_member_id(match.group("idvalue"))
    if match.group("dobvalue") is not None:
        return match.group("doblabel") + match.group("dobsep") + MASKED_DATE
    if match.group("date") is not None:
        return MASKED_DATE
    return mask_member_id(match.group("idshape"))


def mask_phi(text: str) -> str:
    """The text with member ids and dates masked (see the module docstring)."""
    if not text or not _DIGIT.search(text):
        return text
    return _PATTERN.sub(_replace, text)


_formatter = logging.Formatter()


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Masks a record in place: its message with arguments merged in, its traceback and stack."""
    if getattr(record, "_phi_masked", False):
        return record
    record._phi_masked = True
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: leave it for logging to report
        return record
    masked = mask_phi(message)
    if masked != message or record.args:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        record.exc_text = mask_phi(_formatter.formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = mask_phi(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_phi(record.stack_info)
    return record


class PhiMaskingFilter(logging.Filter):
    """A logging filter that masks each record it sees (attach it to handlers); never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


_install_lock = threading.Lock()
_installed = False


def install() -> None:
    """Masks every log record made from now on in this process (idempotent, cheap to call again)."""
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def masking_factory(*args, **kwargs) -> logging.LogRecord:
            return mask_record(previous(*args, **kwargs))

        masking_factory.priorauth_masking = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(masking_factory)
        _installed = True


def installed() -> bool:
    return bool(getattr(logging.getLogRecordFactory(), "priorauth_masking", False))
