"""Replay of stored stage outputs and start-up recovery (docs/concepts/replay.md).

Depends on foundation, protocols, infra, lineage, engine and execution; must not import the
server or the CLI.
"""

from __future__ import annotations

from ._compose import RuntimeServices, compose_runtime
from ._publisher import ReplayProgress, ReplayPublisher
from ._recovery import RecoveryManager, RecoveryMode, RecoveryRecord, RecoveryReport
from ._reinject import ReinjectionResult, Reinjector
from ._request import ReplayRequest, ReplayResult
from ._routes import ReplayMode, ReplayTarget, ResolvedRoute, RouteResolver
from ._service import ReplayService
from ._worker_lineage import LineageRepair
from .errors import (
    AmbiguousStageError,
    NothingToReplayError,
    ReplayError,
    ReplayRouteNotFoundError,
    ReplaySourceMissingError,
    ReplayStageNotFoundError,
)

__all__ = (
    # composition root
    "compose_runtime",
    "RuntimeServices",
    # replay
    "ReplayService",
    "ReplayRequest",
    "ReplayResult",
    "RouteResolver",
    "ResolvedRoute",
    "ReplayTarget",
    "ReplayMode",
    "ReplayPublisher",
    "ReplayProgress",
    # recovery
    "RecoveryManager",
    "RecoveryReport",
    "RecoveryRecord",
    "RecoveryMode",
    "Reinjector",
    "LineageRepair",
    "ReinjectionResult",
    # errors
    "ReplayError",
    "ReplaySourceMissingError",
    "ReplayStageNotFoundError",
    "ReplayRouteNotFoundError",
    "AmbiguousStageError",
    "NothingToReplayError",
)
