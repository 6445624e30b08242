"""Config operations C1–C6: store, update, deactivate, read with a fresh report, and the run gate."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from ruamel.yaml import YAML

from factflow_engine.config import (
    ConfigurationError,
    PipelineConfigLoader,
    PipelineGlobalConfig,
    ValidationReport,
)

from ._config_repository import UNSET, ConfigState, PipelineConfigRepository, Unset
from ._db import Page
from ._models import PipelineConfig
from ._types import ConfigSourceType
from .errors import ConfigNameRequiredError, ConfigValidationError, YamlParseError

__all__ = ("PipelineConfigService",)


def _declared(text: str) -> tuple[str | None, str | None]:
    """The document's top-level `name` and `description` (strings only), for a parseable document."""
    try:
        document = YAML(typ="safe", pure=True).load(text)
    except Exception:  # parseable for the validator but not for ruamel: treat as undeclared
        return None, None
    if not isinstance(document, dict):
        return None, None
    name = document.get("name")
    description = document.get("description")
    return (
        name if isinstance(name, str) and name.strip() else None,
        description if isinstance(description, str) else None,
    )


class PipelineConfigService:
    """Stored configs with their validation reports (`create_config`–C6, docs/reference/pipeline-yaml.md).

    - Create and update store the YAML whatever its validation errors; only an unparseable
      document (E001–E009) is refused, with `YamlParseError`.
    - Every read recomputes the report against the live registry (the loader's), so a removed
      adapter type shows at once.
    - The run gate refuses configs with errors (`ConfigValidationError`).

    Args:
        repository: Config rows.
        loader: The validator, bound to the live adapter registry.
    """

    def __init__(self, repository: PipelineConfigRepository, loader: PipelineConfigLoader) -> None:
        self.repository = repository
        self.loader = loader

    # ------------------------------------------------------------------ validation

    async def validate(self, config_yaml: str) -> ValidationReport:
        """The report of any text (C6); never raises for bad YAML."""
        return await asyncio.to_thread(self.loader.validate, config_yaml)

    async def _with_report(self, config: PipelineConfig) -> PipelineConfig:
        return dataclasses.replace(config, validation_report=await self.validate(config.config_yaml))

    def is_runnable(self, config: PipelineConfig) -> bool:
        """Active and without validation errors (the report attached by this service)."""
        return config.is_runnable

    # ------------------------------------------------------------------ reads

    async def get(self, config_id: str) -> PipelineConfig:
        """The config (active or not) with a fresh report.

        Raises:
            ConfigNotFoundError: No such config.
        """
        return await self._with_report(await self.repository.get(config_id))

    async def list(
        self, *, state: ConfigState = "active", name: str | None = None, limit: int = 100, offset: int = 0
    ) -> Page[PipelineConfig]:
        """A page of configs (newest `updated_at` first), each with a fresh report."""
        page = await self.repository.list(state=state, name=name, limit=limit, offset=offset)
        texts = [config.config_yaml for config in page.items]
        reports = await asyncio.to_thread(lambda: [self.loader.validate(text) for text in texts])
        items = tuple(
            dataclasses.replace(config, validation_report=report)
            for config, report in zip(page.items, reports, strict=True)
        )
        return Page(items=items, total=page.total, limit=page.limit, offset=page.offset)

    # ------------------------------------------------------------------ writes

    async def create(
        self,
        config_yaml: str,
        *,
        name: str | None = None,
        description: str | None | Unset = UNSET,
        source_type: ConfigSourceType = ConfigSourceType.API,
        source_path: str | None = None,
    ) -> PipelineConfig:
        """Store a config at version 1 (C1), even when it has validation errors.

        Args:
            config_yaml: The YAML, stored exactly as given.
            name: The name; absent → the YAML's top-level `name`.
            description: The description; absent → the YAML's `description`.
            source_type: `api` (default), `file` or `imported`.
            source_path: Where it came from.

        Raises:
            YamlParseError: The YAML cannot be parsed (E001–E009); nothing is stored.
            ConfigNameRequiredError: Neither `name` nor the YAML names the config.
        """
        report, (declared_name, declared_description) = await asyncio.to_thread(self._inspect, config_yaml)
        if report.is_parse_failure:
            raise YamlParseError(report)
        final_name = name or declared_name
        if not final_name:
            raise ConfigNameRequiredError("Give `name`, or a top-level `name` in the YAML.")
        created = await self.repository.create(
            name=final_name,
            config_yaml=config_yaml,
            description=declared_description if isinstance(description, Unset) else description,
            source_type=source_type,
            source_path=source_path,
        )
        return dataclasses.replace(created, validation_report=report)

    def _inspect(self, config_yaml: str) -> tuple[ValidationReport, tuple[str | None, str | None]]:
        report = self.loader.validate(config_yaml)
        return report, (None, None) if report.is_parse_failure else _declared(config_yaml)

    async def update(
        self,
        config_id: str,
        config_yaml: str,
        *,
        name: str | Unset = UNSET,
        description: str | None | Unset = UNSET,
        expected_version: int | None = None,
    ) -> PipelineConfig:
        """Replace the YAML (C4); the version goes up only when the text changes.

        Raises:
            ConfigNotFoundError: No such config.
            YamlParseError: The YAML cannot be parsed; nothing changed.
            ConfigInactiveError: The config was deactivated.
            VersionConflictError: `expected_version` does not match.
        """
        await self.repository.get(config_id)
        report = await self.validate(config_yaml)
        if report.is_parse_failure:
            raise YamlParseError(report)
        updated = await self.repository.update(
            config_id,
            config_yaml=config_yaml,
            name=name,
            description=description,
            expected_version=expected_version,
        )
        return dataclasses.replace(updated, validation_report=report)

    async def deactivate(self, config_id: str) -> PipelineConfig:
        """Soft delete (C5); idempotent.

        Raises:
            ConfigNotFoundError: No such config.
        """
        return await self._with_report(await self.repository.deactivate(config_id))

    # ------------------------------------------------------------------ run gate

    async def run_gate(self, config_id: str) -> tuple[PipelineConfig, PipelineGlobalConfig]:
        """Load an active config and build it against the live registry.

        Returns:
            The config (with its report) and the parsed pipeline, every default filled in.

        Raises:
            ConfigNotFoundError: No such config.
            ConfigInactiveError: It was deactivated.
            ConfigValidationError: The report has errors (`.report`).
        """
        config = await self.repository.get_active(config_id)
        return config, await self.build(config)

    async def build(self, config: PipelineConfig) -> PipelineGlobalConfig:
        """Validate and build a stored config against the live registry (no activity check).

        Raises:
            ConfigValidationError: The report has errors.
        """
        try:
            return await asyncio.to_thread(self.loader.load, config.config_yaml, default_name=config.name)
        except ConfigurationError as exc:
            raise ConfigValidationError(exc.report) from exc

    async def active_route_ids(self) -> set[str]:
        """Route ids declared by active configs that parse (for pausing routes that are not running)."""
        page = await self.repository.list(state="active", limit=10_000)
        texts = [config.config_yaml for config in page.items]

        def collect() -> set[str]:
            found: set[str] = set()
            for text in texts:
                try:
                    document: Any = YAML(typ="safe", pure=True).load(text)
                except Exception:  # unparseable configs declare nothing
                    continue
                routes = document.get("routes") if isinstance(document, dict) else None
                if isinstance(routes, dict):
                    found.update(str(route_id) for route_id in routes)
            return found

        return await asyncio.to_thread(collect)
