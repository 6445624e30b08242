"""Start-up step 8: validate the shipped pipelines and store them as `file` configs."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from factflow_engine.config import PipelineConfigLoader
from factflow_execution import PipelineConfigRepository

__all__ = ("register_shipped_pipelines",)

logger = logging.getLogger(__name__)


async def register_shipped_pipelines(
    directory: Path, *, loader: PipelineConfigLoader, repository: PipelineConfigRepository, strict: bool
) -> int:
    """Validate every YAML file in `directory` and upsert it by its path.

    Strict mode: one file with errors aborts start-up (`ConfigurationError` propagates).
    Warn-only: files with errors are still stored (not runnable), except unparseable ones
    (E001–E009), which are only logged. A missing directory is logged and skipped.

    Returns:
        How many files were stored or updated.
    """
    if not await asyncio.to_thread(directory.is_dir):
        logger.warning("pipelines directory %s does not exist; no shipped pipelines loaded", directory)
        return 0
    results = await asyncio.to_thread(loader.load_directory, directory, strict=strict)
    changed = 0
    for result in results:
        if result.yaml_text is None or result.report.is_parse_failure:
            logger.warning("shipped pipeline %s cannot be parsed; it is not registered", result.path)
            continue
        description = result.config.description if result.config is not None else None
        config, updated = await repository.upsert_file(
            source_path=str(result.path.absolute()),
            config_yaml=result.yaml_text,
            name=result.name,
            description=description,
        )
        changed += int(updated)
        state = "runnable" if result.report.is_valid else "NOT runnable"
        logger.info(
            "shipped pipeline %s → config %s v%d (%s%s)",
            result.path.name,
            config.config_id,
            config.version,
            state,
            ", updated" if updated else "",
        )
    logger.info("%d shipped pipeline(s) in %s, %d stored or updated", len(results), directory, changed)
    return changed
