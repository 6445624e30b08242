"""`create_app(settings)`: the FastAPI app with its middleware, routers and lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from factflow_foundation import FactflowSettings

from ._console import ConsoleFallback
from ._errors import install_error_handlers
from ._leadership import StandbyWritesMiddleware
from ._lifespan import build_container
from ._middleware import AuthMiddleware, BodyLimitMiddleware, RequestContextMiddleware
from ._runtime import ServerRuntime
from ._tags import TAG_DESCRIPTIONS
from ._version import SERVER_VERSION
from .routes import _adapters, _configs, _executions, _lineage, _pipelines, _root, _storage, _system, _workers

__all__ = ("create_app",)

logger = logging.getLogger(__name__)

# Each router carries its full `/api/v1/...` prefix so a route's `path` is its template
# (the HTTP metrics label) without nesting routers.
_ROUTERS = (
    _configs.router,
    _executions.router,
    _executions.replay_router,
    _pipelines.router,
    _storage.router,
    _lineage.router,
    _system.router,
    _adapters.router,
    _workers.router,
    _root.router,
)


def create_app(settings: FactflowSettings, *, embedded: bool = False, lock_key: int | None = None) -> FastAPI:
    """Build the server app for `settings` (already resolved, see `effective_settings`).

    The lifespan builds the service container in the server's start-up order and tears it
    down in reverse; the container lives on `app.state.runtime`, one per app.

    Args:
        settings: The effective settings.
        embedded: Announce and log the server as embedded.
        lock_key: PostgreSQL advisory lock key for the start-up lock; only tests that run
            several servers on one PostgreSQL server change it.
    """
    runtime = ServerRuntime(settings=settings, embedded=embedded, lock_key=lock_key)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        container = await build_container(runtime)
        runtime.container = container
        try:
            yield
        finally:
            try:
                await container.aclose()
            finally:
                runtime.container = None

    app = FastAPI(
        title="factflow",
        version=SERVER_VERSION,
        summary="YAML-configured pipeline orchestration: configs, executions, storage, lineage.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        openapi_tags=[{"name": tag, "description": text} for tag, text in TAG_DESCRIPTIONS.items()],
        lifespan=lifespan,
        # A trailing slash is a 404 envelope rather than a bare 307 redirect.
        redirect_slashes=False,
    )
    app.state.runtime = runtime
    runtime.app = app
    install_error_handlers(app)
    for router in _ROUTERS:
        app.include_router(router)
    # The web console answers only what no route matched (never `/api`, `/metrics`, `/docs`).
    app.router.default = ConsoleFallback(app.router.default)
    # Added innermost first: the last one added wraps all others.
    app.add_middleware(
        StandbyWritesMiddleware,
        leadership=lambda: runtime.container.cluster.leadership if runtime.container is not None else None,
    )
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_request_bytes)
    app.add_middleware(AuthMiddleware, token=settings.api_token_value)
    app.add_middleware(RequestContextMiddleware, observer=runtime.metrics.observe_request)
    return app
