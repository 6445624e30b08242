"""The FastAPI server and its lifecycle (docs/reference/http-api.md, docs/guides/deployment.md).

Must not be imported by any other factflow package; the CLI talks to it over HTTP. Public names
resolve lazily (PEP 562), so `factflow-server --help` answers without loading the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import create_app
    from ._container import ServiceContainer
    from ._errors import ApiError
    from ._runtime import ServerRuntime
    from ._serve import FactflowServer, run_server
    from ._settings import MissingBackendsError, effective_settings
    from ._sse import SseEvent, event_stream_response
    from ._version import SERVER_VERSION
    from .schemas._common import ErrorResponse

__all__ = (
    # app
    "create_app",
    "ServiceContainer",
    "ServerRuntime",
    # serving
    "run_server",
    "FactflowServer",
    "effective_settings",
    "MissingBackendsError",
    "SERVER_VERSION",
    # errors and transport
    "ApiError",
    "ErrorResponse",
    "SseEvent",
    "event_stream_response",
)

_SOURCES = {
    "create_app": "._app",
    "ServiceContainer": "._container",
    "ServerRuntime": "._runtime",
    "run_server": "._serve",
    "FactflowServer": "._serve",
    "effective_settings": "._settings",
    "MissingBackendsError": "._settings",
    "SERVER_VERSION": "._version",
    "ApiError": "._errors",
    "ErrorResponse": ".schemas._common",
    "SseEvent": "._sse",
    "event_stream_response": "._sse",
}


def __getattr__(name: str) -> Any:
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
