"""The NLU tokenizer reads every draft reference as one fixed token, so a classifier sees no random characters."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from addons.reference_tokenizer import REFERENCE_TOKEN, ReferenceTokenizer


def tokens(text: str) -> list[tuple[str, int, int]]:
    tokenizer = ReferenceTokenizer(ReferenceTokenizer.get_default_config())
    return [(t.text, t.start, t.end) for t in tokenizer.tokenize(Message(data={"text": text}), "text")]


@pytest.mark.parametrize("reference", ["DR-53QAZF", "DR-7K3Q9P", "dr-hkmpqr", "DR 4MZ8QT", "dr7k3q9p"])
def test_every_reference_is_one_token_of_the_same_text_in_its_place(reference):
    text = f"show me {reference} please"
    assert tokens(text) == [
        ("show", 0, 4),
        ("me", 5, 7),
        (REFERENCE_TOKEN, 8, 8 + len(reference)),
        ("please", 9 + len(reference), 15 + len(reference)),
    ]


def test_two_references_in_one_message_are_both_read():
    assert [t for t, _, _ in tokens("merge DR-7K3Q9P into DR-4MZ8QT")] == [
        "merge",
        REFERENCE_TOKEN,
        "into",
        REFERENCE_TOKEN,
    ]


@pytest.mark.parametrize("text", ["the draft for Dr Parker", "referring provider DR PARKER", "27447 on 3/4"])
def test_words_that_are_not_references_keep_their_tokens(text):
    assert REFERENCE_TOKEN not in [t for t, _, _ in tokens(text)]
