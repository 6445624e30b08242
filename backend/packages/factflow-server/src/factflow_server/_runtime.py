"""Per-app state that exists before the container: settings, metrics and the container slot."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.types import ASGIApp

from factflow_foundation import FactflowSettings

from ._container import ServiceContainer
from ._metrics import ServerMetrics

__all__ = ("ServerRuntime",)


@dataclass(slots=True, kw_only=True)
class ServerRuntime:
    """Owned by one FastAPI app (`app.state.runtime`); holds the container once start-up is done."""

    settings: FactflowSettings
    embedded: bool
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    container: ServiceContainer | None = None
    lock_key: int | None = None
    """PostgreSQL advisory lock key; None is the product key (tests running servers side by side
    on one PostgreSQL give each its own)."""
    app: ASGIApp | None = None
    """The app itself: a leader answers the writes standbys relay to it through it."""
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by the signal handler; start-up retry loops give up early when it is set."""

    def request_shutdown(self) -> None:
        """Called on SIGINT/SIGTERM: stop start-up retries, or start draining the container."""
        self.stop_requested.set()
        if self.container is not None:
            self.container.request_shutdown()
