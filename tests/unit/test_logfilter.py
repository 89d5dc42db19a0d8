"""PHI masking in logs (priorauth/logfilter.py): what is masked, what is kept, and the process-wide install."""

from __future__ import annotations

import logging

import pytest

from priorauth import logfilter
from priorauth.logfilter import MASKED_DATE, PhiMaskingFilter, mask_phi

MASKED = [
    ("member id XYZ123456789, dob 03/04/1961", "member id ****6789, dob **/**/****"),
    ("Member ID: XYZ 123 456 789", "Member ID: ****6789"),
    ("subscriber # 987654321012", "subscriber # ****1012"),
    ("mbr no. H123456789", "mbr no. ****6789"),
    ("member_id=W12345 x", "member_id=****2345 x"),
    (
        '{"draft_member_id": "XYZ123456789", "member_dob": "1961-03-04"}',
        '{"draft_member_id": "****6789", "member_dob": "**/**/****"}',
    ),
    ("patient DOB: 1961-03-04", "patient DOB: **/**/****"),
    ("date of birth is 3.4.1961", "date of birth is **/**/****"),
    ("born March 4, 1961", "born **/**/****"),
    ("born on 4th of March 1961", "born on **/**/****"),
    ("ABC555666777 4/5/72", "****6777 **/**/****"),
    ("for member H940686463?", "for member ****6463?"),
    ("order 123456789.", "order ****6789."),
    ("seen 03-04-1961 and 1961-03-04", "seen **/**/**** and **/**/****"),
]
KEPT = [
    "Rasa 3.6.21 on 127.0.0.1:5005 and 10.0.0.12",
    "2024-01-05 12:00:00,123 INFO started",
    "2024-01-05T12:00:00Z",
    "confidence 0.123456789 at 1700000000.1234",
    "call 1-877-291-0360 or (866) 789-0158",
    "CPT 27447, ICD G89.18, draft DR-7K3Q9P, port 54321",
    "sender conv-1a2b3c4d5e uuid 123e4567-e89b-12d3-a456-426614174000",
    "no digits here at all",
]


@pytest.mark.parametrize(("raw", "masked"), MASKED)
def test_member_ids_and_dates_are_masked(raw, masked):
    assert mask_phi(raw) == masked


@pytest.mark.parametrize("raw", KEPT)
def test_versions_addresses_timestamps_phones_and_codes_are_kept(raw):
    assert mask_phi(raw) == raw


def test_masking_is_idempotent():
    once = mask_phi("member id XYZ123456789 dob 3/4/1961 and 987654321012")
    assert mask_phi(once) == once and MASKED_DATE in once


def test_a_record_is_masked_with_its_arguments_and_traceback():
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "user said %s (%r)", ("dob 3/4/1961", "XYZ123456789"), None
    )
    try:
        raise ValueError("bad member id XYZ987654321")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    PhiMaskingFilter().filter(record)
    formatted = logging.Formatter("%(message)s").format(record)
    assert "3/4/1961" not in formatted and "XYZ123456789" not in formatted and "XYZ987654321" not in formatted
    assert "user said dob **/**/**** ('****6789')" in formatted and "****4321" in formatted


@pytest.fixture
def restored_logging(monkeypatch):
    """The install is process-wide: undo it after the test, or later tests' log checks would pass masked."""
    monkeypatch.setattr(logfilter, "_installed", logfilter._installed)
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)


def test_install_masks_every_logger_and_handler_added_later(caplog, restored_logging):
    logfilter.install()
    logfilter.install()  # idempotent
    assert logfilter.installed()
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.library").info("member id %s", "QRS246813579")
        logging.getLogger("sanic.error").warning("born March 4, 1961")
    assert "QRS246813579" not in caplog.text and "March 4, 1961" not in caplog.text
    assert "****3579" in caplog.text
