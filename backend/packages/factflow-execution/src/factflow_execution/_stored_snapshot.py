"""`StoredSnapshot`: an execution's `config_snapshot` column, parsed on first use."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from factflow_engine.config import ConfigSnapshot

from .errors import SnapshotUnreadableError

__all__ = ("StoredSnapshot",)

logger = logging.getLogger(__name__)


class StoredSnapshot:
    """The stored snapshot document of one execution, validated only where it is used.

    A row written by an older release, or edited by hand, may hold a document that no longer
    validates. Reading, listing and deleting such an execution needs only the raw document, so a
    row is never parsed when it is read: `snapshot` parses it on first use and raises
    `SnapshotUnreadableError` (400 `config_invalid`) there, and only there.

    Args:
        source: A `ConfigSnapshot` (a new execution) or the stored document (a row).
    """

    __slots__ = ("_document", "_error", "_parsed")

    def __init__(self, source: ConfigSnapshot | Mapping[str, Any]) -> None:
        self._parsed: ConfigSnapshot | None = None
        self._error: str | None = None
        if isinstance(source, ConfigSnapshot):
            self._parsed = source
            self._document: Mapping[str, Any] = source.model_dump()
        else:
            self._document = source

    @property
    def document(self) -> dict[str, Any]:
        """The stored document, unchanged (a copy)."""
        return copy.deepcopy(dict(self._document))

    @property
    def snapshot(self) -> ConfigSnapshot:
        """The typed snapshot, parsed once.

        Raises:
            SnapshotUnreadableError: the stored document does not validate.
        """
        parsed = self._parse()
        if parsed is None:
            raise SnapshotUnreadableError(
                f"The stored config snapshot does not validate ({self._error}).",
                context={"problem": self._error},
            )
        return parsed

    @property
    def problem(self) -> str | None:
        """Why the document does not validate, or None when it does."""
        return self._error if self._parse() is None else None

    def _parse(self) -> ConfigSnapshot | None:
        if self._parsed is None and self._error is None:
            try:
                self._parsed = ConfigSnapshot.model_validate(self._document)
            except ValidationError as exc:
                self._error = f"{exc.error_count()} validation error(s); first: {_first(exc)}"
                logger.warning("A stored config snapshot does not validate: %s", self._error)
        return self._parsed

    @property
    def tolerated_failures(self) -> int:
        """`error_handling.tolerated_failures`, read from the raw document when it does not validate."""
        if self.problem is None:
            return self.snapshot.tolerated_failures
        config = self._document.get("config")
        handling = config.get("error_handling") if isinstance(config, Mapping) else None
        value = handling.get("tolerated_failures") if isinstance(handling, Mapping) else None
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoredSnapshot):
            return NotImplemented
        return dict(self._document) == dict(other._document)

    __hash__ = None  # type: ignore[assignment]  # mutable cache inside; equality is by document

    def __repr__(self) -> str:
        state = "unparsed" if self._parsed is None and self._error is None else self._error or "valid"
        return f"StoredSnapshot({state})"


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"]) or "<root>"
    return f"{location}: {error['msg']}"
