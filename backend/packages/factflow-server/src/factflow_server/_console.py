"""The web console: its built single-page app served under `/`, beside the API.

The assets are built from `frontend/` and committed into `console/` inside this package, so
serving them needs no Node.js. They hold no data and are public; every call the console makes
goes through `/api/v1` and its token check.

The console is the router's *default* handler, reached only when no route matched: the API,
`/metrics`, `/openapi.json` and `/docs` are never shadowed, and an unknown path under one of
them keeps its 404 (or 405) error envelope. A `GET`/`HEAD` of `/` or of a path under one of the
console's views (`CONSOLE_VIEWS`) gets `index.html`, so a deep link such as `/executions/<id>`
opens the right view; other unknown paths stay 404 envelopes.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath

from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = (
    "CONSOLE_DIR",
    "CONSOLE_VIEWS",
    "RESERVED_PREFIXES",
    "ConsoleFallback",
    "is_console_path",
    "is_reserved_path",
)

logger = logging.getLogger(__name__)

CONSOLE_DIR = Path(__file__).parent / "console"
"""Where the built console lives (`index.html` and the hashed `assets/`)."""

RESERVED_PREFIXES = ("/api", "/metrics", "/openapi.json", "/docs", "/redoc")
"""Paths the console never answers, even when nothing else matched them."""

CONSOLE_VIEWS = frozenset({"executions", "lineage", "storage", "configs", "pipelines", "system"})
"""First path segments of the console's views (its client-side routes in `frontend/src/App.tsx`)."""

_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"
_MISSING_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>factflow</title></head>
<body><h1>factflow</h1><p>The web console is not built into this server.
Run <code>make frontend</code>, or use the API under <code>/api/v1</code>.</p></body></html>"""


def is_reserved_path(path: str) -> bool:
    """Whether `path` belongs to the API or an operational endpoint rather than the console."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in RESERVED_PREFIXES)


def is_console_path(path: str) -> bool:
    """Whether `path` is the console's home or a deep link into one of its views."""
    first = path.lstrip("/").split("/", 1)[0]
    return path == "/" or first in CONSOLE_VIEWS


class ConsoleFallback:
    """ASGI handler for requests no route matched: console files, else the SPA's `index.html`.

    Args:
        not_found: The handler to delegate to for reserved paths and other methods (the
            router's own 404).
        directory: The built console; a missing one serves a short page saying so.
    """

    def __init__(self, not_found: ASGIApp, *, directory: Path = CONSOLE_DIR) -> None:
        self._not_found = not_found
        self._directory = directory.resolve()

    def _file_for(self, path: str) -> Path | None:
        relative = PurePosixPath(path.lstrip("/"))
        if not relative.parts or any(part in ("", ".", "..") or "\\" in part for part in relative.parts):
            return None
        candidate = (self._directory / relative).resolve()
        if not candidate.is_relative_to(self._directory) or not candidate.is_file():
            return None
        return candidate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD") or is_reserved_path(path):
            await self._not_found(scope, receive, send)
            return
        response = self._response(path)
        await response(scope, receive, send)

    def _response(self, path: str) -> Response:
        index = self._directory / "index.html"
        if not index.is_file():
            if not is_console_path(path):
                raise HTTPException(status_code=404)
            return HTMLResponse(_MISSING_PAGE, headers={"Cache-Control": _REVALIDATE})
        found = self._file_for(path)
        if found is not None and found != index.resolve():
            cache = _IMMUTABLE if found.parent.name == "assets" else _REVALIDATE
            return FileResponse(found, headers={"Cache-Control": cache})
        if found is None and not is_console_path(path):
            # Not a view (a stale hashed asset included): the usual 404 envelope, not a page.
            raise HTTPException(status_code=404)
        return FileResponse(index, media_type="text/html", headers={"Cache-Control": _REVALIDATE})
