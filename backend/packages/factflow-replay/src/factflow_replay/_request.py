"""What a replay asks for (`ReplayRequest`) and what it created (`ReplayResult`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from factflow_execution import PipelineExecution, ReplaySource

from .errors import ReplayError

if TYPE_CHECKING:
    from ._routes import ResolvedRoute

__all__ = ("ReplayRequest", "ReplayResult")


class ReplayRequest(BaseModel):
    """The body of `replay_execution` (and of R1, whose `from_execution_id` is the parent ref instead).

    Unknown keys are ignored, so the R1 body can be passed as it is.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    from_stage: str = Field(min_length=1, max_length=128)
    """Stage whose stored outputs are replayed; it does not run again."""
    from_route: str | None = None
    """Source route; needed only when several source routes have `from_stage`."""
    to_route: str | None = None
    """Present → cross-pipeline mode: the messages enter this route of the target snapshot at adapter 0."""
    config_id: str | None = None
    """Run this config's current version (run gate applies) instead of the parent's snapshot."""
    from_path: str | None = Field(default=None, min_length=1, pattern=r"^[^/]*$")
    """Only objects whose file name starts with this value."""
    tag: str | None = None
    """Unique label of the new execution."""
    metadata: dict[str, Any] | None = None
    """Caller metadata of the new execution."""
    replay_source: ReplaySource | None = None
    """Only `storage` (the default) is accepted; `lineage` and `manual` are reserved."""

    @property
    def is_cross_pipeline(self) -> bool:
        return self.to_route is not None

    @classmethod
    def coerce(cls, value: ReplayRequest | Mapping[str, Any]) -> ReplayRequest:
        """A request from a `ReplayRequest` or a mapping (the API body).

        Raises:
            ReplayError: the mapping is malformed (`request_validation_error`).
        """
        if isinstance(value, ReplayRequest):
            return value
        try:
            return cls.model_validate(dict(value))
        except ValidationError as exc:
            errors = [{"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]} for error in exc.errors()]
            first = errors[0] if errors else {"loc": [], "msg": "invalid"}
            raise ReplayError(
                f"Invalid replay request: {'.'.join(str(part) for part in first['loc'])}: {first['msg']}",
                code="request_validation_error",
                context={"errors": errors},
            ) from exc


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """A replay execution that was created and started.

    `execution.replay` holds the docs/reference/http-api-endpoints.md ReplayInfo as it was stored (`publish_status:
    publishing`); the publisher keeps updating the row afterwards.
    """

    execution: PipelineExecution
    """The new execution (`source: replay`)."""
    route: ResolvedRoute
    """Where the messages enter, resolved from the snapshots."""
    objects_found: int
    """Stored outputs selected for publishing."""

    @property
    def replay(self) -> dict[str, Any]:
        """The ReplayInfo of the new execution."""
        return dict(self.execution.replay or {})
