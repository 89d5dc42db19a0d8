"""Serves the web pages (provider chat page, agent side panel) from the Rasa server itself, under /web/.

A Rasa input channel only so that credentials.yml mounts it: one process set, and the widget's socket.io and
the panel's API are on the page's own origin (no CORS). Files come from priorauth/web/static/.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "priorauth" / "web" / "static"
# Pages load only their own scripts: injected markup could not run even if it reached the DOM. The widget
# injects its CSS as <style> elements, hence 'unsafe-inline' for styles only, and embeds its icon font as a
# data: URL, hence font-src data:.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def resolve(root: Path, path: str) -> Path | None:
    """The file under root that a URL path names, or None (missing, hidden, or outside root)."""
    root = root.resolve()
    target = (root / (path or "index.html")).resolve()
    if target.is_dir():
        target = target / "index.html"
    inside = target == root or root in target.parents
    hidden = any(part.startswith(".") for part in target.relative_to(root).parts) if inside else True
    return target if inside and not hidden and target.is_file() else None


class WebPages(InputChannel):
    """credentials.yml: `addons.web_pages.WebPages:` (optional `root:` a directory of pages)."""

    @classmethod
    def name(cls) -> str:
        return "web"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WebPages:
        root = (credentials or {}).get("root") or os.environ.get("PRIORAUTH_WEB_ROOT")
        return cls(Path(root) if root else DEFAULT_ROOT)

    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = root

    def url_prefix(self) -> str:
        return "/web"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        pages = Blueprint("web_pages", __name__)

        @pages.route("/", methods=["GET", "HEAD"])
        async def index(request: Request) -> HTTPResponse:
            if not request.path.endswith("/"):  # relative URLs in the page need the slash
                return response.redirect(request.path + "/")
            return await self.serve("index.html")

        @pages.route("/<path:path>", methods=["GET", "HEAD"])
        async def page(request: Request, path: str) -> HTTPResponse:
            return await self.serve(path)

        return pages

    async def serve(self, path: str) -> HTTPResponse:
        target = resolve(self.root, path)
        if target is None:
            return response.json({"error": "not_found", "message": f"no page /web/{path}"}, status=404)
        mime_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if mime_type.startswith("text/") or mime_type == "application/javascript":
            mime_type += "; charset=utf-8"
        return await response.file(target, mime_type=mime_type, headers=SECURITY_HEADERS)
