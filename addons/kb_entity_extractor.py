"""Rasa NLU component: extracts knowledge-base entities with the spaCy matcher of `priorauth.nlu`.

The vocabulary is built from data/authorization/ at training time and stored in the model, so a
trained model needs no database; the knowledge base's content hash is part of the fingerprint, so a
data change retrains the component.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from priorauth.kb.loader import content_hash
from priorauth.nlu.matcher import KBMatcher
from priorauth.nlu.vocabulary import build_vocabulary

VOCABULARY_FILE = "vocabulary.json"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class KBEntityExtractor(GraphComponent, EntityExtractorMixin):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"kb_dir": "data/authorization", "fuzzy_threshold": 0.88}

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        kb_dir = Path(config.get("kb_dir", "data/authorization"))
        return content_hash(kb_dir) if kb_dir.exists() else None

    def __init__(
        self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource, vocabulary: dict | None = None
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._matcher = KBMatcher(vocabulary, config["fuzzy_threshold"]) if vocabulary else None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> KBEntityExtractor:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        vocabulary = build_vocabulary(Path(self._config["kb_dir"]))
        with self._model_storage.write_to(self._resource) as directory:
            (directory / VOCABULARY_FILE).write_text(json.dumps(vocabulary), encoding="utf-8")
        self._matcher = KBMatcher(vocabulary, self._config["fuzzy_threshold"])
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> KBEntityExtractor:
        with model_storage.read_from(resource) as directory:
            vocabulary = json.loads((directory / VOCABULARY_FILE).read_text(encoding="utf-8"))
        return cls(config, model_storage, resource, vocabulary)

    def process(self, messages: list[Message]) -> list[Message]:
        if self._matcher is None:
            return messages
        for message in messages:
            found = self._matcher.extract(message.get(TEXT) or "")
            entities = [{k: e[k] for k in ("entity", "value", "start", "end")} for e in found]
            message.set(ENTITIES, message.get(ENTITIES, []) + self.add_extractor_name(entities), add_to_output=True)
        return messages
