"""FastAPI dependencies: the container and its services, injected per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ._container import ServiceContainer
from ._errors import ApiError
from ._runtime import ServerRuntime

__all__ = ("ContainerDep", "RuntimeDep", "get_container", "get_runtime")


def get_runtime(request: Request) -> ServerRuntime:
    """The app's runtime (always present)."""
    runtime: ServerRuntime = request.app.state.runtime
    return runtime


def get_container(request: Request) -> ServiceContainer:
    """The running container; 503 while the server is not (or no longer) serving."""
    container = get_runtime(request).container
    if container is None:
        raise ApiError(503, "orchestrator_unavailable", "The server is not running (starting up or shut down).")
    return container


RuntimeDep = Annotated[ServerRuntime, Depends(get_runtime)]
ContainerDep = Annotated[ServiceContainer, Depends(get_container)]
