"""Rows of `pipeline_configs`."""

from __future__ import annotations

import logging
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_foundation import config_hash, new_id, utc_now

from ._db import Page, session_scope
from ._models import PipelineConfig
from ._orm import PipelineConfigRow
from ._types import ConfigSourceType
from .errors import ConfigInactiveError, ConfigNotFoundError, VersionConflictError

__all__ = ("UNSET", "ConfigState", "PipelineConfigRepository", "Unset")

logger = logging.getLogger(__name__)

ConfigState = Literal["active", "inactive", "all"]


class Unset:
    """Marker for "argument not given" where `None` is a meaningful value (e.g. clear a description)."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET = Unset()
"""The single `Unset` value."""

_MAX_UPDATE_ATTEMPTS = 5


def _to_domain(row: PipelineConfigRow) -> PipelineConfig:
    return PipelineConfig(
        config_id=row.id,
        name=row.name,
        description=row.description,
        config_yaml=row.config_yaml,
        config_hash=row.config_hash,
        version=row.version,
        source_type=ConfigSourceType(row.source_type),
        source_path=row.source_path,
        is_active=row.is_active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class PipelineConfigRepository:
    """CRUD for stored pipeline configs.

    `version` goes up only when the YAML text changes; only the current YAML is kept. Delete is
    soft (`is_active = false`). Database failures raise `ServiceUnavailableError`
    (`database_unavailable`).

    Args:
        session_factory: Sessions on the factflow database.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    async def create(
        self,
        *,
        name: str,
        config_yaml: str,
        description: str | None = None,
        source_type: ConfigSourceType = ConfigSourceType.API,
        source_path: str | None = None,
    ) -> PipelineConfig:
        """Store a new config at version 1, active."""
        now = utc_now()
        row = PipelineConfigRow(
            id=new_id(),
            name=name,
            description=description,
            config_yaml=config_yaml,
            config_hash=config_hash(config_yaml),
            version=1,
            source_type=str(source_type),
            source_path=source_path,
            is_active=True,
            created_at=now,
            updated_at=now,
        )
        async with session_scope(self._sessions) as session:
            session.add(row)
            await session.flush()
            created = _to_domain(row)
        return created

    async def find(self, config_id: str) -> PipelineConfig | None:
        """The config, or `None`."""
        async with session_scope(self._sessions) as session:
            row = await session.get(PipelineConfigRow, config_id)
            return _to_domain(row) if row is not None else None

    async def get(self, config_id: str) -> PipelineConfig:
        """The config, active or not.

        Raises:
            ConfigNotFoundError: No config has this id.
        """
        config = await self.find(config_id)
        if config is None:
            raise ConfigNotFoundError(f"Config {config_id!r} does not exist.")
        return config

    async def get_active(self, config_id: str) -> PipelineConfig:
        """The config, which must be active.

        Raises:
            ConfigNotFoundError: No config has this id.
            ConfigInactiveError: It was deactivated.
        """
        config = await self.get(config_id)
        if not config.is_active:
            raise ConfigInactiveError(f"Config {config_id!r} is inactive.")
        return config

    async def find_by_source_path(self, source_path: str) -> PipelineConfig | None:
        """The config stored from this shipped file, if any (the oldest if several)."""
        async with session_scope(self._sessions) as session:
            row = (
                await session.execute(
                    select(PipelineConfigRow)
                    .where(PipelineConfigRow.source_path == source_path)
                    .order_by(PipelineConfigRow.created_at, PipelineConfigRow.id)
                    .limit(1)
                )
            ).scalar_one_or_none()
            return _to_domain(row) if row is not None else None

    async def update(
        self,
        config_id: str,
        *,
        config_yaml: str,
        name: str | Unset = UNSET,
        description: str | None | Unset = UNSET,
        expected_version: int | None = None,
        allow_inactive: bool = False,
    ) -> PipelineConfig:
        """Replace the YAML (and optionally name/description).

        `version` goes up by one and `config_hash` is recomputed only when the text differs.

        Args:
            config_id: The config.
            config_yaml: The new YAML text.
            name: New name; absent keeps it.
            description: New description; absent keeps it, `None` clears it.
            expected_version: Optimistic lock: the update applies only to this version.
            allow_inactive: Update a deactivated config too (shipped-file upserts).

        Raises:
            ConfigNotFoundError: No config has this id.
            ConfigInactiveError: It was deactivated (unless `allow_inactive`).
            VersionConflictError: `expected_version` is not the stored version.
        """
        for _ in range(_MAX_UPDATE_ATTEMPTS):
            current = await self.get(config_id)
            if not current.is_active and not allow_inactive:
                raise ConfigInactiveError(f"Config {config_id!r} is inactive.")
            if expected_version is not None and current.version != expected_version:
                raise VersionConflictError(
                    f"Config {config_id!r} is at version {current.version}, not {expected_version}.",
                    context={"current_version": current.version, "expected_version": expected_version},
                )
            changed = config_yaml != current.config_yaml
            values: dict[str, object] = {"updated_at": utc_now()}
            if changed:
                values.update(
                    config_yaml=config_yaml, config_hash=config_hash(config_yaml), version=current.version + 1
                )
            if not isinstance(name, Unset):
                values["name"] = name
            if not isinstance(description, Unset):
                values["description"] = description
            async with session_scope(self._sessions) as session:
                # Conditional on the version read above, so two concurrent edits cannot both bump it.
                result = await session.execute(
                    update(PipelineConfigRow)
                    .where(PipelineConfigRow.id == config_id, PipelineConfigRow.version == current.version)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
            if result.rowcount == 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
                return await self.get(config_id)
            if expected_version is not None:
                raise VersionConflictError(
                    f"Config {config_id!r} changed concurrently; it is no longer at version {expected_version}.",
                    context={"expected_version": expected_version},
                )
        raise VersionConflictError(f"Config {config_id!r} kept changing concurrently; retry the update.")

    async def deactivate(self, config_id: str) -> PipelineConfig:
        """Soft delete; idempotent. The config stays readable.

        Raises:
            ConfigNotFoundError: No config has this id.
        """
        async with session_scope(self._sessions) as session:
            await session.execute(
                update(PipelineConfigRow)
                .where(PipelineConfigRow.id == config_id, PipelineConfigRow.is_active.is_(True))
                .values(is_active=False, updated_at=utc_now())
                .execution_options(synchronize_session=False)
            )
        return await self.get(config_id)

    async def list(
        self,
        *,
        state: ConfigState = "active",
        name: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[PipelineConfig]:
        """Configs by newest `updated_at` first (then id).

        Args:
            state: `active`, `inactive` or `all`.
            name: Case-insensitive substring of the name.
            limit: Page size.
            offset: Rows to skip.
        """
        conditions = []
        if state == "active":
            conditions.append(PipelineConfigRow.is_active.is_(True))
        elif state == "inactive":
            conditions.append(PipelineConfigRow.is_active.is_(False))
        if name:
            conditions.append(func.lower(PipelineConfigRow.name).like(f"%{_escape_like(name.lower())}%", escape="\\"))
        async with session_scope(self._sessions) as session:
            total = (
                await session.execute(select(func.count()).select_from(PipelineConfigRow).where(*conditions))
            ).scalar_one()
            rows = (
                await session.execute(
                    select(PipelineConfigRow)
                    .where(*conditions)
                    .order_by(PipelineConfigRow.updated_at.desc(), PipelineConfigRow.id.desc())
                    .limit(limit)
                    .offset(offset)
                )
            ).scalars()
            return Page(items=tuple(_to_domain(row) for row in rows), total=int(total), limit=limit, offset=offset)

    async def upsert_file(
        self, *, source_path: str, config_yaml: str, name: str, description: str | None = None
    ) -> tuple[PipelineConfig, bool]:
        """Store a shipped file, keyed by `source_path`.

        A new path creates a `file` config; a known one is updated (version bump only when the
        text changed). A deactivated config stays deactivated.

        Returns:
            The stored config and whether anything changed.
        """
        existing = await self.find_by_source_path(source_path)
        if existing is None:
            created = await self.create(
                name=name,
                config_yaml=config_yaml,
                description=description,
                source_type=ConfigSourceType.FILE,
                source_path=source_path,
            )
            return created, True
        if (existing.config_yaml, existing.name, existing.description) == (config_yaml, name, description):
            return existing, False
        updated = await self.update(
            existing.config_id, config_yaml=config_yaml, name=name, description=description, allow_inactive=True
        )
        return updated, True
