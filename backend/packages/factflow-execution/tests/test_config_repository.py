from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_execution import (
    ConfigInactiveError,
    ConfigNotFoundError,
    ConfigSourceType,
    PipelineConfigRepository,
    VersionConflictError,
)
from factflow_foundation import config_hash

YAML_A = 'version: "1.0"\nroutes: {}\n'
YAML_B = 'version: "1.0"\nname: b\nroutes: {}\n'


@pytest.fixture
def repo(session_factory: async_sessionmaker[AsyncSession]) -> PipelineConfigRepository:
    return PipelineConfigRepository(session_factory)


async def test_create_stores_version_one_active_with_hash(repo: PipelineConfigRepository) -> None:
    created = await repo.create(name="alpha", config_yaml=YAML_A, description="d")
    loaded = await repo.get(created.config_id)
    assert loaded == created
    assert loaded.version == 1
    assert loaded.is_active
    assert loaded.config_hash == config_hash(YAML_A)
    assert loaded.source_type is ConfigSourceType.API
    assert loaded.created_at == loaded.updated_at
    assert loaded.created_at.tzinfo is not None


async def test_update_bumps_version_only_when_yaml_changes(repo: PipelineConfigRepository) -> None:
    created = await repo.create(name="alpha", config_yaml=YAML_A, description="d")

    renamed = await repo.update(created.config_id, config_yaml=YAML_A, name="beta")
    assert (renamed.version, renamed.name, renamed.description) == (1, "beta", "d")
    assert renamed.config_hash == created.config_hash

    changed = await repo.update(created.config_id, config_yaml=YAML_B, description=None)
    assert changed.version == 2
    assert changed.config_yaml == YAML_B
    assert changed.config_hash == config_hash(YAML_B)
    assert changed.name == "beta"
    assert changed.description is None
    assert changed.updated_at >= renamed.updated_at


async def test_update_with_stale_expected_version_conflicts(repo: PipelineConfigRepository) -> None:
    created = await repo.create(name="alpha", config_yaml=YAML_A)
    await repo.update(created.config_id, config_yaml=YAML_B, expected_version=1)
    with pytest.raises(VersionConflictError) as info:
        await repo.update(created.config_id, config_yaml=YAML_A, expected_version=1)
    assert info.value.code == "version_conflict"
    assert (await repo.get(created.config_id)).config_yaml == YAML_B


async def test_deactivate_is_soft_and_idempotent(repo: PipelineConfigRepository) -> None:
    created = await repo.create(name="alpha", config_yaml=YAML_A)
    first = await repo.deactivate(created.config_id)
    second = await repo.deactivate(created.config_id)
    assert not first.is_active and not second.is_active
    assert (await repo.get(created.config_id)).config_yaml == YAML_A
    with pytest.raises(ConfigInactiveError) as info:
        await repo.update(created.config_id, config_yaml=YAML_B)
    assert info.value.code == "config_inactive"
    with pytest.raises(ConfigInactiveError):
        await repo.get_active(created.config_id)


async def test_unknown_config_is_not_found(repo: PipelineConfigRepository) -> None:
    with pytest.raises(ConfigNotFoundError) as info:
        await repo.get("0190c6a4-0000-7000-8000-000000000000")
    assert info.value.code == "config_not_found"
    with pytest.raises(ConfigNotFoundError):
        await repo.deactivate("0190c6a4-0000-7000-8000-000000000000")


async def test_list_filters_state_and_name_newest_first_with_paging(repo: PipelineConfigRepository) -> None:
    a = await repo.create(name="Scrape Docs", config_yaml=YAML_A)
    b = await repo.create(name="embed", config_yaml=YAML_A)
    c = await repo.create(name="scrape_100%", config_yaml=YAML_A)
    await repo.deactivate(b.config_id)

    active = await repo.list()
    assert [x.config_id for x in active.items] == [c.config_id, a.config_id]
    assert active.total == 2 and not active.has_more

    inactive = await repo.list(state="inactive")
    assert [x.config_id for x in inactive.items] == [b.config_id]

    everything = await repo.list(state="all", limit=2, offset=0)
    assert everything.total == 3 and everything.has_more
    assert [x.config_id for x in everything.items] == [b.config_id, c.config_id]

    assert [x.config_id for x in (await repo.list(name="SCRAPE")).items] == [c.config_id, a.config_id]
    # LIKE wildcards in the filter are literal.
    assert [x.config_id for x in (await repo.list(name="100%")).items] == [c.config_id]
    assert [x.config_id for x in (await repo.list(name="_1")).items] == [c.config_id]

    past_end = await repo.list(state="all", offset=10)
    assert past_end.items == () and past_end.total == 3


async def test_upsert_file_creates_then_updates_by_source_path(repo: PipelineConfigRepository) -> None:
    created, changed = await repo.upsert_file(source_path="pipelines/a.yaml", config_yaml=YAML_A, name="a")
    assert changed and created.source_type is ConfigSourceType.FILE and created.version == 1

    same, changed = await repo.upsert_file(source_path="pipelines/a.yaml", config_yaml=YAML_A, name="a")
    assert not changed and same == created

    updated, changed = await repo.upsert_file(source_path="pipelines/a.yaml", config_yaml=YAML_B, name="a")
    assert changed and updated.config_id == created.config_id and updated.version == 2

    other, _ = await repo.upsert_file(source_path="pipelines/b.yaml", config_yaml=YAML_A, name="b")
    assert other.config_id != created.config_id
    assert (await repo.list()).total == 2
