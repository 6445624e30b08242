"""Errors of replay resolution; each `code` is the docs/reference/http-api.md `error_code` (§2.5, E12)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from factflow_foundation import FactflowError, NotFoundError

__all__ = (
    "AmbiguousStageError",
    "NothingToReplayError",
    "ReplayError",
    "ReplayRouteNotFoundError",
    "ReplaySourceMissingError",
    "ReplayStageNotFoundError",
)


class ReplayError(FactflowError):
    """Root of the replay errors: the request cannot be resolved (API: 400 unless a subclass says otherwise)."""

    default_code = "replay_error"


class ReplayStageNotFoundError(ReplayError):
    """No route of the snapshot has the stage (API: 400 `unknown_stage`)."""

    default_code = "unknown_stage"


class AmbiguousStageError(ReplayError):
    """Several source routes have the stage; `from_route` must pick one (API: 400 `ambiguous_stage`).

    Args:
        message: One sentence naming the stage.
        candidates: The routes that have it (also in `context["candidates"]`).
    """

    default_code = "ambiguous_stage"

    def __init__(self, message: str, *, candidates: Sequence[str], context: dict[str, Any] | None = None) -> None:
        self.candidates = tuple(candidates)
        super().__init__(message, context={**(context or {}), "candidates": list(self.candidates)})


class ReplaySourceMissingError(ReplayError, NotFoundError):
    """No stored stage output is left under the source prefix (API: 404 `replay_source_empty`).

    `context["prefix"]` names the storage prefix that was listed.
    """

    default_code = "replay_source_empty"


class ReplayRouteNotFoundError(ReplayError):
    """The route is not in the snapshot it must be in (API: 400 `unknown_route`)."""

    default_code = "unknown_route"


class NothingToReplayError(ReplayError):
    """The stage is its route's last and the route has no outbound queue (API: 400 `nothing_to_replay`)."""

    default_code = "nothing_to_replay"
