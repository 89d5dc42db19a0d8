"""Answer selection: facts ranked against the message within a topic and across topics (plain Python)."""

from __future__ import annotations

import pytest

from priorauth.selection import Doc, Expander, FactIndex, index_from, shared_index
from tests.conftest import KB_DIR

# A small knowledge base of its own: three topics, one fact carrying the questions it answers.
DOCS = [
    Doc("appeals", "You can ask for a second look within 10 days of the refusal."),
    Doc("appeals", "A doctor-to-doctor call can be requested at any time.", ("can our surgeon talk to a physician",)),
    Doc("appeals", "Extra records go through the upload feature of the web portal."),
    Doc("facilities", "A free-standing surgery center needs no extra facility review."),
    Doc("facilities", "A hospital outpatient department needs an extra facility review."),
    Doc("phones", "Call 555-0100 on weekdays from 8 to 5."),
]
VOCAB = {"d2d": "doctor-to-doctor call", "ASC": "free-standing surgery center", "phone": "call"}


@pytest.fixture(scope="module")
def index():
    return FactIndex(DOCS, VOCAB)


def test_the_fact_that_answers_the_question_comes_first(index):
    texts = [d.text for d in DOCS[:3]]
    assert index.select("how many days do we have to ask for a second look?", texts)[0] == 0
    assert index.select("where do the extra records go", texts)[0] == 2


def test_a_question_the_fact_says_it_answers_ranks_it_first(index):
    texts = [d.text for d in DOCS[:3]]
    assert index.select("can the surgeon talk with one of your physicians?", texts)[0] == 1


def test_shorthand_meets_the_words_of_the_fact(index):
    texts = [d.text for d in DOCS[:3]]
    assert index.select("d2d?", texts) == [1]
    facilities = [d.text for d in DOCS[3:5]]
    assert index.select("booking it at an ASC, extra review?", facilities)[0] == 0


def test_abbreviations_of_three_capitals_match_only_in_capitals():
    expand = Expander({"PT": "physical therapy", "pt": "patient"})
    assert "physical therapy" in expand("PT evaluation")
    assert "patient" in expand("the pt is 60") and "physical therapy" not in expand("the pt is 60")


def test_a_message_about_nothing_selects_nothing(index):
    assert index.select("zzz qqq", [d.text for d in DOCS]) == []
    assert index.best_topic("zzz qqq") is None


def test_at_most_keep_facts_are_kept(index):
    texts = [d.text for d in DOCS]
    assert len(index.select("review facility hospital center doctor records call", texts, keep=2)) <= 2


def test_the_topic_that_clearly_wins_across_topics(index):
    assert index.best_topic("which number do I phone on weekdays?") == "phones"
    assert index.best_topic("is a hospital outpatient department reviewed for the facility?") == "facilities"


def test_an_even_match_between_topics_is_no_clear_winner():
    docs = [Doc("a", "request form for the review"), Doc("b", "request form for the review")]
    assert FactIndex(docs).best_topic("request form review") is None


def test_an_index_needs_statements():
    with pytest.raises(ValueError):
        FactIndex([])


def test_the_knowledge_base_index_is_built_once_per_process():
    assert shared_index(str(KB_DIR)) is shared_index(str(KB_DIR))


@pytest.mark.parametrize(
    ("message", "topic"),
    [
        ("who would our surgeon be speaking with on a peer to peer", "peer_to_peer"),
        ("which facilities count as alternatives to the hospital outpatient department", "site_of_care"),
        ("steps to sign up for the provider portal", "registration"),
        ("we got a remit message saying the claim had no pre-service review", "post_service"),
    ],
)
def test_the_knowledge_base_ranks_its_own_topics(message, topic):
    from priorauth.kb.reader import read_kb

    index = index_from(read_kb(KB_DIR))
    assert index.topics(message)[0].topic == topic


@pytest.mark.parametrize(
    "text",
    ["how many days do we have to ask for a second look?", "d2d for an ASC??", "authorizaton upload", "", "the of"],
)
def test_a_turn_weighs_a_message_exactly_as_the_fitted_vectorizers_do(index, text):
    """The per-turn dict vectors (no sparse matrix) carry the weights of scikit-learn's own transform."""
    expanded = index.expand(text)
    for space, vectorizer in zip(index._spaces, (index.words, index.chars), strict=True):
        row = vectorizer.transform([expanded])
        expected = dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))
        got = space.vector(expanded)
        assert got.keys() == expected.keys()
        assert all(abs(got[f] - w) < 1e-12 for f, w in expected.items())


def test_scores_are_the_cosine_of_the_fitted_vectors_when_nothing_is_left_out(index):
    """One text and no background: nothing is masked, so each score is 0.65 * word cosine + 0.35 * char cosine
    of the message and the best of the fact and the questions it answers, as sparse matrices compute it."""
    message = "can our surgeon ask for a doctor-to-doctor call?"
    fact = DOCS[1].text
    m = index.expand(message)
    views = [index.expand(v) for v in (fact, *DOCS[1].answers)]
    best = max(
        0.65 * (index.words.transform([v]) @ index.words.transform([m]).T).toarray()[0, 0]
        + 0.35 * (index.chars.transform([v]) @ index.chars.transform([m]).T).toarray()[0, 0]
        for v in views
    )
    assert best > 0.2
    assert index.scores(message, [fact]) == [pytest.approx(best, abs=1e-12)]
