"""Rasa adapters loaded by the Rasa server: the knowledge-base entity extractor and the agent channel."""
