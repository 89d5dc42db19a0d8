"""Rasa NLU tokenizer: the whitespace tokenizer, with each draft reference ("DR-7K3Q9P", "dr 7k3q9p") read as
one token of fixed text.

A reference is six random characters. Left as they are, they feed the character n-gram features with noise that
changes on every draft, so "show me DR-53QAZF" was classified one way for one reference and another way (or as
nothing) for the next. As one fixed token, every reference reads alike, in training examples and in messages.
The token keeps the reference's place in the text, so entities and the actions still read the reference itself.
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from priorauth.drafts.references import reference_spans

# What every draft reference reads as to the featurizers.
REFERENCE_TOKEN = "draftreference"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class ReferenceTokenizer(WhitespaceTokenizer):
    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens = super().tokenize(message, attribute)
        spans = reference_spans(message.get(attribute)) if isinstance(message.get(attribute), str) else []
        for start, end, _ in spans:
            inside = [token for token in tokens if token.start < end and token.end > start]
            if not inside:
                continue
            first = tokens.index(inside[0])
            tokens = [token for token in tokens if token not in inside]
            tokens.insert(first, Token(REFERENCE_TOKEN, inside[0].start, inside[-1].end, lemma=REFERENCE_TOKEN))
        return tokens
