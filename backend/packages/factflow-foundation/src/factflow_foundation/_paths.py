"""Storage keys for stage outputs, fan-out manifests, artefacts and sidecars.

`ExecutionPathResolver` is the only code that builds these keys, so the layout documented in
the API (`executions/<exec>/<route>/<stage>/<msg>.json`) cannot drift between writers and
readers.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("SIDECAR_SUFFIX", "ExecutionPathResolver", "StagePaths")

SIDECAR_SUFFIX = ".meta.json"
EXECUTIONS_ROOT = "executions"


class ExecutionPathResolver:
    """Builds every storage key the engine writes."""

    @staticmethod
    def execution_prefix(execution_id: str) -> str:
        """`executions/<exec>/`."""
        return f"{EXECUTIONS_ROOT}/{execution_id}/"

    @staticmethod
    def stage_prefix(execution_id: str, route_id: str, stage: str) -> str:
        """`executions/<exec>/<route>/<stage>/`."""
        return f"{EXECUTIONS_ROOT}/{execution_id}/{route_id}/{stage}/"

    @classmethod
    def output_key(cls, execution_id: str, route_id: str, stage: str, message_id: str) -> str:
        """`…/<msg>.json`: the stage output of one message."""
        return f"{cls.stage_prefix(execution_id, route_id, stage)}{message_id}.json"

    @classmethod
    def manifest_key(cls, execution_id: str, route_id: str, stage: str, message_id: str) -> str:
        """`…/<msg>.fanout.json`: the fan-out manifest of one message."""
        return f"{cls.stage_prefix(execution_id, route_id, stage)}{message_id}.fanout.json"

    @classmethod
    def artefact_key(cls, execution_id: str, route_id: str, stage: str, message_id: str, name: str) -> str:
        """`…/_artefacts/<msg>/<name>`: large content an adapter stores beside its output."""
        return f"{cls.stage_prefix(execution_id, route_id, stage)}_artefacts/{message_id}/{name}"

    @staticmethod
    def sidecar_key(key: str) -> str:
        """`<key>.meta.json`."""
        return key + SIDECAR_SUFFIX

    @staticmethod
    def is_sidecar(key: str) -> bool:
        """Whether `key` names a sidecar."""
        return key.endswith(SIDECAR_SUFFIX)

    @classmethod
    def bind(cls, execution_id: str, route_id: str, stage: str, message_id: str) -> StagePaths:
        """Return the keys of one invocation (`PipelineContext.paths`)."""
        return StagePaths(execution_id=execution_id, route_id=route_id, stage=stage, message_id=message_id)


@dataclass(frozen=True, slots=True)
class StagePaths:
    """The storage keys of one adapter invocation."""

    execution_id: str
    route_id: str
    stage: str
    message_id: str

    @property
    def stage_prefix(self) -> str:
        return ExecutionPathResolver.stage_prefix(self.execution_id, self.route_id, self.stage)

    @property
    def output_key(self) -> str:
        return ExecutionPathResolver.output_key(self.execution_id, self.route_id, self.stage, self.message_id)

    @property
    def manifest_key(self) -> str:
        return ExecutionPathResolver.manifest_key(self.execution_id, self.route_id, self.stage, self.message_id)

    def artefact_key(self, name: str) -> str:
        """Key for an artefact called `name` of this invocation's message."""
        return ExecutionPathResolver.artefact_key(self.execution_id, self.route_id, self.stage, self.message_id, name)
