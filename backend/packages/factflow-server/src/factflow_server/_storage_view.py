"""Storage listing filters and metadata shaping for S1–S3 (docs/reference/http-api.md).

Identity filters match key segments of the `executions/<execution>/<route>/<stage…>/<file>`
layout without reading sidecars; keys outside that layout never match them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from factflow_infra.storage import ListingEntry, ObjectEntry

from .schemas._storage import RESERVED_METADATA_FIELDS, ObjectMetadata

__all__ = ("KeyFilter", "object_metadata", "parse_extensions")

logger = logging.getLogger(__name__)

_EXECUTIONS = "executions"


def parse_extensions(value: str | None) -> tuple[str, ...]:
    """`.json,.md` → `(".json", ".md")`; a missing leading dot is added, case is ignored."""
    if not value:
        return ()
    parts = (part.strip().lower() for part in value.split(","))
    return tuple(part if part.startswith(".") else f".{part}" for part in parts if part)


@dataclass(frozen=True, slots=True)
class KeyFilter:
    """The S1 filters: identity segments (AND) and file extensions."""

    execution_id: str | None = None
    route_id: str | None = None
    stage: str | None = None
    correlation_id: str | None = None
    extensions: tuple[str, ...] = ()

    @property
    def has_identity(self) -> bool:
        return any(value is not None for value in (self.execution_id, self.route_id, self.stage, self.correlation_id))

    @property
    def is_empty(self) -> bool:
        return not self.has_identity and not self.extensions

    def narrowest_prefix(self, prefix: str) -> str | None:
        """The longest listing prefix that still holds every match (None: nothing can match).

        Only used for recursive listings; a folder view lists exactly `prefix`.
        """
        identity = ""
        if self.execution_id is not None:
            identity = f"{_EXECUTIONS}/{self.execution_id}/"
            if self.route_id is not None:
                identity += f"{self.route_id}/"
                if self.stage is not None:
                    identity += f"{self.stage}/"
        if not identity:
            return prefix
        if identity.startswith(prefix):
            return identity
        if prefix.startswith(identity):
            return prefix
        return None

    def matches_key(self, key: str) -> bool:
        if self.extensions and not key.lower().endswith(self.extensions):
            return False
        if not self.has_identity:
            return True
        segments = key.split("/")
        if len(segments) < 5 or segments[0] != _EXECUTIONS:
            return False
        file_name = segments[-1]
        checks = (
            (self.execution_id, segments[1]),
            (self.route_id, segments[2]),
            (self.stage, "/".join(segments[3:-1])),
            (self.correlation_id, file_name.split(".", 1)[0]),
        )
        return all(wanted is None or wanted == actual for wanted, actual in checks)

    def may_contain(self, prefix: str) -> bool:
        """Whether keys under folder `prefix` (ending in `/`) can match the identity filters."""
        if not self.has_identity:
            return True
        segments = prefix.rstrip("/").split("/")
        if segments[0] != _EXECUTIONS:
            return False
        if self.execution_id is not None and len(segments) > 1 and segments[1] != self.execution_id:
            return False
        if self.route_id is not None and len(segments) > 2 and segments[2] != self.route_id:
            return False
        if self.stage is not None and len(segments) > 3:
            stage_segments = self.stage.split("/")
            below_route = segments[3:]
            if below_route != stage_segments[: len(below_route)]:
                return False
        return True

    def accepts(self, entry: ListingEntry) -> bool:
        """`collect_page`'s `include`: objects by key, folders by whether they can hold matches."""
        if isinstance(entry, ObjectEntry):
            return self.matches_key(entry.key)
        return self.may_contain(entry.prefix)


def object_metadata(raw: dict[str, Any]) -> ObjectMetadata:
    """Shape a sidecar as `ObjectMetadata`: reserved fields in place, everything else in `custom`.

    A reserved field whose value has the wrong type is kept under `custom` rather than failing
    the request.
    """
    reserved = {name: value for name, value in raw.items() if name in RESERVED_METADATA_FIELDS}
    custom = {name: value for name, value in raw.items() if name not in RESERVED_METADATA_FIELDS}
    try:
        return ObjectMetadata.model_validate({**reserved, "custom": custom})
    except ValidationError as exc:
        bad = {str(error["loc"][0]) for error in exc.errors() if error.get("loc")}
        required = {"key", "content_type", "content_length"}
        if bad & required:
            raise
        logger.warning("sidecar of %r has malformed reserved fields %s; kept under `custom`", raw.get("key"), bad)
        for name in bad:
            custom[name] = reserved.pop(name, None)
        return ObjectMetadata.model_validate({**reserved, "custom": custom})
