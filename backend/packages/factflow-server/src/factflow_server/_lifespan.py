"""Start-up (runtime.md §8): build the service container step by step, unwinding on failure."""

from __future__ import annotations

import contextlib
import logging

from ._container import ServiceContainer
from ._runtime import ServerRuntime
from ._settings import settings_summary

__all__ = ("build_container",)

logger = logging.getLogger(__name__)


async def build_container(runtime: ServerRuntime) -> ServiceContainer:
    """Run the start-up steps in order and return the running container.

    Any failure closes what was already started and propagates (the server exits non-zero).
    """
    settings = runtime.settings
    logger.info("effective settings%s: %s", " (embedded)" if runtime.embedded else "", settings_summary(settings))
    stack = contextlib.AsyncExitStack()
    try:
        container = ServiceContainer(
            settings=settings, embedded=runtime.embedded, metrics=runtime.metrics, exit_stack=stack
        )
    except BaseException:
        await stack.aclose()
        raise
    return container
