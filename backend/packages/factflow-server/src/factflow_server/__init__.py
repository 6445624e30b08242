"""The FastAPI server and its lifecycle (api.md, runtime.md §8).

Must not be imported by any other factflow package; the CLI talks to it over HTTP.
"""

from __future__ import annotations

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
