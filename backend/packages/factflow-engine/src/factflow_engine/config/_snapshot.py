"""`ConfigSnapshot`: the frozen config of one execution (docs/concepts/executions.md).

The snapshot is stored as JSON on the execution row (`pipeline_executions.config_snapshot`):
`{config_yaml, config, config_hash, config_version, config_name, captured_at, engine_version}`,
where `config` is the parsed pipeline with every default filled in
(`PipelineGlobalConfig.model_dump(by_alias=True, mode="json")`). Everything that needs the
routes, queues or policies of an execution reads them from here, never from the live config.

A snapshot keeps the document it was built or loaded from and serialises back to exactly that
document, so a row written by an older release reads and re-serialises unchanged (re-dumping
the parsed model would, for one, print an integer default such as `retry_delay_seconds: 1` as
`1.0`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)
from pydantic_core.core_schema import SerializationInfo
from ruamel.yaml import YAML

from ._models import PipelineGlobalConfig, RouteConfig

__all__ = ("ConfigSnapshot",)


class ConfigSnapshot(BaseModel):
    """An execution's frozen config: the parsed pipeline plus where it came from.

    Build one with `capture(...)` when an execution starts, or `model_validate(document)` from a
    stored row; `model_dump()` gives the stored document back unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    config: PipelineGlobalConfig
    """The parsed pipeline, defaults filled in."""
    config_yaml: str | None = None
    """The YAML text as stored in the config."""
    config_hash: str | None = None
    """`sha256:<hex>` of the YAML text."""
    config_version: int | None = None
    """The config's version at start."""
    config_name: str | None = None
    """The config's name at start."""
    captured_at: str | None = None
    """RFC 3339 time the snapshot was taken."""
    engine_version: str | None = None
    """factflow-engine version that took it."""

    _document: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_document(cls, data: Any, handler: Any) -> Any:
        snapshot = handler(data)
        if isinstance(data, Mapping) and isinstance(snapshot, ConfigSnapshot):
            snapshot._document = copy.deepcopy(dict(data))
        return snapshot

    @model_serializer(mode="wrap")
    def _dump_document(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        if self._document:
            return copy.deepcopy(self._document)
        return handler(self)

    @classmethod
    def capture(
        cls,
        pipeline: PipelineGlobalConfig,
        *,
        config_yaml: str,
        config_hash: str,
        config_version: int,
        config_name: str | None,
        captured_at: str,
        engine_version: str,
    ) -> ConfigSnapshot:
        """The snapshot of `pipeline` taken now, in the stored key order."""
        return cls.model_validate(
            {
                "config_yaml": config_yaml,
                "config": pipeline.model_dump(by_alias=True, mode="json"),
                "config_hash": config_hash,
                "config_version": config_version,
                "config_name": config_name,
                "captured_at": captured_at,
                "engine_version": engine_version,
            }
        )

    # ------------------------------------------------------------------ routes

    def route_ids(self) -> list[str]:
        """Route ids in the order of the stored `config.routes` mapping."""
        return list(self.config.routes)

    def declared_route_ids(self) -> list[str]:
        """Route ids in the order the YAML text declares them (parses the text: call off the loop).

        Rows written while the column was PostgreSQL JSONB (which stores object keys sorted) keep
        the author's order only in `config_yaml`; routes the text does not name follow in stored
        order.
        """
        stored = self.route_ids()
        if self.config_yaml is None:
            return stored
        try:
            document = YAML(typ="safe", pure=True).load(self.config_yaml)
        except Exception:  # a snapshot is validated YAML; this only guards against surprises
            return stored
        routes = document.get("routes") if isinstance(document, dict) else None
        if not isinstance(routes, dict):
            return stored
        declared = [str(route_id) for route_id in routes]
        return declared + [route_id for route_id in stored if route_id not in declared]

    def route(self, route_id: str) -> RouteConfig:
        """One route of the snapshot.

        Raises:
            KeyError: no such route.
        """
        return self.config.routes[route_id]

    def pool(self, route_id: str) -> str:
        """The worker pool that runs a route: `inbound.pool`, else `default` (also in older rows).

        Raises:
            KeyError: no such route.
        """
        return self.config.routes[route_id].inbound.pool

    def pools(self) -> dict[str, str]:
        """Route id → its worker pool, in stored route order."""
        return {route_id: route.inbound.pool for route_id, route in self.config.routes.items()}

    @property
    def init_route(self) -> str | None:
        """The route receiving the init message; `None` without one."""
        return self.config.init_message.route if self.config.init_message is not None else None

    @property
    def tolerated_failures(self) -> int:
        """`error_handling.tolerated_failures` of the pipeline."""
        return self.config.error_handling.tolerated_failures

    # ------------------------------------------------------------------ queues

    def dead_letter_queue(self, route_id: str) -> str:
        """The logical DLQ of a route (its override, else the pipeline's, else `dlq.<route-id>`)."""
        return self.config.processor_config(route_id).dead_letter_queue

    def dlqs(self) -> list[str]:
        """Every logical dead-letter queue, in route order, without repeats."""
        return list(dict.fromkeys(self.dead_letter_queue(route_id) for route_id in self.config.routes))

    def queues(self) -> list[str]:
        """Every logical ordinary queue (inbound and outbound, not a DLQ), in route order, without repeats."""
        dead_letter = set(self.dlqs())
        ordered: dict[str, None] = {}
        for route in self.config.routes.values():
            ordered[route.inbound.queue_name] = None
            for entry in route.outbound:
                ordered[entry.queue_name] = None
        return [queue for queue in ordered if queue not in dead_letter]

    def all_queues(self) -> list[str]:
        """`queues()` then `dlqs()`: every logical queue of the execution."""
        return self.queues() + self.dlqs()

    def consumers(self) -> dict[str, str]:
        """Logical inbound queue → the route consuming it."""
        return self.config.consumed_queues()
