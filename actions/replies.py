"""Replies every action sends the same way: the database-outage reply, and a message with its structured payload
for the channels whose clients show one."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from actions import backend

logger = logging.getLogger(__name__)
# Channels whose clients render the structured payload (the widget shows only text).
PAYLOAD_CHANNELS = {"rest", "agent", "cmdline", None}


def shows_payload(channel: str | None) -> bool:
    return channel in PAYLOAD_CHANNELS


def send_payload(
    dispatcher: CollectingDispatcher,
    channel: str | None,
    text: str | None = None,
    payload: dict | None = None,
    buttons: list[dict] | None = None,
    **response: Any,
) -> None:
    """A text (or ``response=`` with its values) and its buttons; the payload only where the client shows it."""
    if payload is not None and shows_payload(channel):
        response["json_message"] = payload
    if buttons:
        response["buttons"] = buttons
    dispatcher.utter_message(text=text, **response)


def service_unavailable(dispatcher: CollectingDispatcher, error: Exception, what: str = "storage") -> None:
    """The database is down: logged by the error's type only (its message may quote PHI), the engine forgotten so
    the next message reconnects, and a clear reply."""
    logger.error("%s unavailable: %s", what, type(error).__name__)
    backend.reset()
    dispatcher.utter_message(response="utter_service_unavailable")
