"""`ValidatingAdapterRegistry`: adapter types by name, their health, config checks and creation."""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from pydantic import BaseModel

from factflow_protocols import PipelineAdapter

from ..config import ValidationIssue
from ._config_check import check_config, close_matches
from ._entry_points import AdapterDiscovery, AdapterSource
from ._errors import AdapterConfigError, AdapterNotFoundError, AdapterUnavailableError

__all__ = (
    "ADAPTER_NAME_PATTERN",
    "AdapterInfo",
    "AdapterLoadErrorInfo",
    "ValidatingAdapterRegistry",
    "auto_discover_and_register",
)

logger = logging.getLogger(__name__)

ADAPTER_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
"""What an adapter type (entry-point name) must look like."""


class AdapterLoadErrorInfo(TypedDict):
    """Why an adapter type is unusable (`AdapterInfo.load_error`)."""

    error_type: str
    message: str


class AdapterInfo(TypedDict):
    """One adapter type as the API and `factflow adapter` show it (docs/reference/http-api.md)."""

    type: str
    class_path: str
    package: str | None
    package_version: str | None
    description: str | None
    config_schema: dict[str, Any] | None
    load_error: AdapterLoadErrorInfo | None


@dataclass(frozen=True, slots=True)
class _Problem:
    """Why a type is broken: a short reason for issue messages and a fix."""

    error_type: str
    reason: str
    suggestion: str


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    sources: tuple[AdapterSource, ...]
    adapter_class: type[PipelineAdapter] | None
    problem: _Problem | None

    @property
    def source(self) -> AdapterSource:
        return self.sources[0]

    @property
    def config_model(self) -> type[BaseModel] | None:
        return self.adapter_class.config_model if self.adapter_class is not None else None


def _class_problem(target: object, *, name: str, source: AdapterSource) -> _Problem | None:
    """The first broken-type rule (docs/guides/writing-adapters.md) the loaded target breaks, if any."""
    where = source.value
    if not ADAPTER_NAME_PATTERN.match(name):
        return _Problem(
            "InvalidAdapterName",
            f"its name does not match {ADAPTER_NAME_PATTERN.pattern}",
            f"Rename the entry point {name!r} to lower-case letters, digits and '_' (2-64 characters).",
        )
    if not (isinstance(target, type) and issubclass(target, PipelineAdapter)):
        return _Problem(
            "InvalidAdapterClass",
            f"{where} is not a PipelineAdapter subclass",
            f"Point the entry point {name!r} at a `PipelineAdapter` subclass.",
        )
    declared = getattr(target, "adapter_type", None)
    if declared != name:
        return _Problem(
            "AdapterTypeMismatch",
            f"{where} declares adapter_type {declared!r}, not {name!r}",
            f"Set `adapter_type = {name!r}` on {where}, or name the entry point {declared!r}.",
        )
    if inspect.isabstract(target):
        return _Problem(
            "InvalidAdapterClass",
            f"{where} is abstract (it does not implement `process`)",
            f"Implement `async def process(self, context)` on {where}.",
        )
    model = getattr(target, "config_model", None)
    if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
        return _Problem(
            "InvalidConfigModel",
            f"{where}.config_model is neither None nor a pydantic BaseModel subclass",
            f"Set `config_model` on {where} to a pydantic model class, or to None.",
        )
    return None


def _origin(source: AdapterSource) -> str:
    return repr(source.distribution) if source.distribution is not None else source.value


class ValidatingAdapterRegistry:
    """Adapter types by name, usable or broken, with the config checks the validator runs.

    Implements the validator's `AdapterConfigChecker`. A broken type (import failure, invalid
    class, name rules, or a name claimed twice) stays listed so that `describe()` shows why,
    and every config using it gets E107.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    # ------------------------------------------------------------------ registration

    def register(self, cls: object, *, name: str, source: AdapterSource | None = None) -> None:
        """Register `cls` as adapter type `name`, or mark the type broken when `cls` breaks a rule.

        Args:
            cls: The loaded entry-point target (anything; a non-adapter is recorded as broken).
            name: The adapter type, i.e. the entry-point name.
            source: Where it was declared; defaults to the class itself (registration in code).
        """
        source = source or AdapterSource.from_class(cls, name=name)
        previous = self._entries.get(name)
        if previous is not None:
            if previous.adapter_class is cls and previous.problem is None:
                return
            self._mark_ambiguous(name, (*previous.sources, source))
            return
        problem = _class_problem(cls, name=name, source=source)
        if problem is not None:
            self._store(_Entry(name, (source,), None, problem))
            return
        assert isinstance(cls, type) and issubclass(cls, PipelineAdapter)  # checked by _class_problem
        self._store(_Entry(name, (source,), cls, None))

    def register_source(self, source: AdapterSource) -> None:
        """Import an entry point and register it; an import failure marks the type broken (E107)."""
        try:
            target = source.load()
        except Exception as exc:  # any import-time failure of a plug-in is that plug-in's problem
            if source.name in self._entries:
                self._mark_ambiguous(source.name, (*self._entries[source.name].sources, source))
                return
            problem = _Problem(
                type(exc).__name__,
                f"failed to load ({type(exc).__name__}: {exc})",
                f"{source.name!r} failed to load ({exc}); reinstall its package.",
            )
            self._store(_Entry(source.name, (source,), None, problem))
            return
        self.register(target, name=source.name, source=source)

    def auto_discover_and_register(self, discovery: AdapterDiscovery | None = None) -> ValidatingAdapterRegistry:
        """Register every adapter declared in the `factflow.adapters` entry points; returns `self`.

        A name declared by several distributions is marked ambiguous without importing any of them.
        """
        discovery = discovery or AdapterDiscovery()
        for name, sources in discovery.discover().items():
            if len(sources) > 1:
                self._mark_ambiguous(name, sources)
            else:
                self.register_source(sources[0])
        usable = sum(1 for entry in self._entries.values() if entry.problem is None)
        logger.info("adapter registry: %d usable types, %d broken", usable, len(self._entries) - usable)
        return self

    def _mark_ambiguous(self, name: str, sources: tuple[AdapterSource, ...]) -> None:
        origins = sorted(dict.fromkeys(_origin(source) for source in sources))
        listed = ", ".join(origins[:-1]) + f" and {origins[-1]}" if len(origins) > 1 else origins[0]
        problem = _Problem(
            "AmbiguousAdapterType",
            f"it is declared by {listed}",
            f"Uninstall all but one of {listed}; each declares {name!r}.",
        )
        self._store(_Entry(name, tuple(sources), None, problem))

    def _store(self, entry: _Entry) -> None:
        self._entries[entry.name] = entry
        if entry.problem is not None:
            logger.warning(
                "adapter type %r is unusable: %s (%s)", entry.name, entry.problem.reason, entry.source.describe()
            )

    # ------------------------------------------------------------------ lookup

    def types(self) -> tuple[str, ...]:
        """The usable adapter types, sorted."""
        return tuple(sorted(name for name, entry in self._entries.items() if entry.problem is None))

    def __contains__(self, adapter_type: object) -> bool:
        """Whether the type is known, usable or broken."""
        return adapter_type in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, adapter_type: str) -> type[PipelineAdapter]:
        """The adapter class of a usable type.

        Raises:
            AdapterNotFoundError: the type is not registered (`candidates` holds close matches).
            AdapterUnavailableError: the type is broken (E107).
        """
        entry = self._usable(adapter_type, path="type")
        assert entry.adapter_class is not None
        return entry.adapter_class

    def _usable(self, adapter_type: str, *, path: str) -> _Entry:
        issue = self._type_issue(adapter_type, path=path)
        if issue is None:
            return self._entries[adapter_type]
        if issue.code == "E103":
            raise AdapterNotFoundError(
                issue.message, issues=[issue], candidates=close_matches(adapter_type, sorted(self._entries))
            )
        raise AdapterUnavailableError(issue.message, issues=[issue])

    def _type_issue(self, adapter_type: str, *, path: str) -> ValidationIssue | None:
        entry = self._entries.get(adapter_type)
        if entry is None:
            matches = close_matches(adapter_type, sorted(self._entries))
            hint = f" Did you mean {matches[0]!r}?" if matches else " Install the package that provides it."
            return ValidationIssue(
                severity="error",
                code="E103",
                path=path,
                message=f"Adapter type {adapter_type!r} is not registered.",
                suggestion=f"{adapter_type!r} is not registered.{hint}",
            )
        if entry.problem is not None:
            return ValidationIssue(
                severity="error",
                code="E107",
                path=path,
                message=f"Adapter type {adapter_type!r} is unusable: {entry.problem.reason} "
                f"({'; '.join(source.describe() for source in entry.sources)}).",
                suggestion=entry.problem.suggestion,
            )
        return None

    # ------------------------------------------------------------------ config checks

    def check_adapter(
        self, adapter_type: str, config: object, *, config_given: bool, path: str
    ) -> list[ValidationIssue]:
        """E103/E107 at `<path>.type`, else the E3xx issues of the config (`AdapterConfigChecker`)."""
        issue = self._type_issue(adapter_type, path=f"{path}.type")
        if issue is not None:
            return [issue]
        return self.validate_config(adapter_type, config, path=f"{path}.config", config_given=config_given)

    def validate_config(
        self, adapter_type: str, config: object, *, path: str = "config", config_given: bool = True
    ) -> list[ValidationIssue]:
        """The E301–E308 issues of `config` for a usable type; `path` is the config's own path.

        Raises:
            AdapterNotFoundError: the type is not registered.
            AdapterUnavailableError: the type is broken.
        """
        entry = self._usable(adapter_type, path=path)
        _, issues = check_config(adapter_type, entry.config_model, config, config_path=path, config_given=config_given)
        return issues

    def create(self, adapter_type: str, config: Mapping[str, Any] | None = None) -> PipelineAdapter:
        """Build an adapter instance from a config mapping (checked exactly as the validator checks it).

        Raises:
            AdapterNotFoundError: the type is not registered.
            AdapterUnavailableError: the type is broken.
            AdapterConfigError: the config has E3xx issues (in `issues`).
        """
        entry = self._usable(adapter_type, path="type")
        assert entry.adapter_class is not None
        instance, issues = check_config(
            adapter_type, entry.config_model, config, config_path="config", config_given=config is not None
        )
        if issues:
            raise AdapterConfigError(f"Invalid config for adapter {adapter_type!r}: {issues[0].message}", issues=issues)
        return entry.adapter_class(instance) if instance is not None else entry.adapter_class()

    # ------------------------------------------------------------------ description

    def describe(self) -> list[AdapterInfo]:
        """Every known type, usable or broken, sorted by type (`GET /adapters`)."""
        return [self._info(self._entries[name]) for name in sorted(self._entries)]

    def describe_one(self, adapter_type: str) -> AdapterInfo:
        """One known type, usable or broken (`GET /adapters/{type}`).

        Raises:
            AdapterNotFoundError: the type is not registered (`candidates` holds close matches).
        """
        entry = self._entries.get(adapter_type)
        if entry is None:
            issue = self._type_issue(adapter_type, path="type")
            assert issue is not None
            raise AdapterNotFoundError(
                issue.message, issues=[issue], candidates=close_matches(adapter_type, sorted(self._entries))
            )
        return self._info(entry)

    def _info(self, entry: _Entry) -> AdapterInfo:
        source = entry.source
        description = None
        doc = entry.adapter_class.__doc__ if entry.adapter_class is not None else None
        if doc and doc.strip():
            description = inspect.cleandoc(doc).splitlines()[0].strip() or None
        config_schema = None
        if entry.config_model is not None:
            try:
                config_schema = entry.config_model.model_json_schema()
            except Exception:  # a schema that cannot be rendered must not hide the type
                logger.warning("adapter type %r: config model has no JSON schema", entry.name, exc_info=True)
        load_error: AdapterLoadErrorInfo | None = None
        if entry.problem is not None:
            load_error = {
                "error_type": entry.problem.error_type,
                "message": f"{entry.problem.reason} ({'; '.join(s.describe() for s in entry.sources)})",
            }
        return {
            "type": entry.name,
            "class_path": source.value,
            "package": source.distribution,
            "package_version": source.version,
            "description": description,
            "config_schema": config_schema,
            "load_error": load_error,
        }


def auto_discover_and_register(discovery: AdapterDiscovery | None = None) -> ValidatingAdapterRegistry:
    """A new registry holding every adapter of the `factflow.adapters` entry points (usable or broken)."""
    return ValidatingAdapterRegistry().auto_discover_and_register(discovery)
