"""The one shape of an error the Rasa server's own checks and channels answer: {"error": code, "message": text}."""

from __future__ import annotations

from sanic import response
from sanic.response import HTTPResponse


def json_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> HTTPResponse:
    return response.json({"error": code, "message": message}, status=status, headers=headers)
