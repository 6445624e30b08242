from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_engine.config import PipelineConfigLoader
from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_execution import (
    ConfigInactiveError,
    ConfigNameRequiredError,
    ConfigNotFoundError,
    ConfigValidationError,
    PipelineConfigRepository,
    PipelineConfigService,
    YamlParseError,
)

VALID = """\
version: "1.0"
name: from-yaml
description: described in yaml
routes:
  first:
    inbound: {queue: in}
    adapters:
      - type: echo
init_message:
  route: first
  payload: {text: hi}
"""

UNKNOWN_TYPE = VALID.replace("type: echo", "type: nope")


@pytest.fixture
def service(
    session_factory: async_sessionmaker[AsyncSession], registry: ValidatingAdapterRegistry
) -> PipelineConfigService:
    return PipelineConfigService(PipelineConfigRepository(session_factory), PipelineConfigLoader(registry))


async def test_create_takes_name_and_description_from_yaml(service: PipelineConfigService) -> None:
    config = await service.create(VALID)
    assert (config.name, config.description, config.version) == ("from-yaml", "described in yaml", 1)
    assert config.is_runnable and service.is_runnable(config)
    body = config.to_api()
    assert body["validation_report"] == {"is_valid": True, "error_count": 0, "warning_count": 0, "issues": []}
    assert body["is_runnable"] is True and "config_yaml" not in body
    assert body["created_at"].endswith("Z")
    assert config.to_api(include_yaml=True)["config_yaml"] == VALID

    named = await service.create(VALID, name="explicit", description=None)
    assert (named.name, named.description) == ("explicit", None)


async def test_create_stores_invalid_config_but_not_unparseable(service: PipelineConfigService) -> None:
    invalid = await service.create(UNKNOWN_TYPE)
    assert not invalid.is_runnable
    assert invalid.validation_report is not None
    assert "E103" in invalid.validation_report.codes()
    assert (await service.get(invalid.config_id)).config_yaml == UNKNOWN_TYPE

    with pytest.raises(YamlParseError) as info:
        await service.create("routes: [unclosed\n", name="x")
    assert info.value.code == "yaml_parse_error"
    assert info.value.report.is_parse_failure
    assert (await service.list(state="all")).total == 1


async def test_create_without_any_name_is_refused(service: PipelineConfigService) -> None:
    nameless = VALID.replace("name: from-yaml\n", "")
    with pytest.raises(ConfigNameRequiredError) as info:
        await service.create(nameless)
    assert info.value.code == "request_validation_error"


async def test_report_is_recomputed_against_the_live_registry(
    session_factory: async_sessionmaker[AsyncSession], service: PipelineConfigService
) -> None:
    config = await service.create(VALID)
    without_echo = PipelineConfigService(
        PipelineConfigRepository(session_factory), PipelineConfigLoader(ValidatingAdapterRegistry())
    )
    reread = await without_echo.get(config.config_id)
    assert not reread.is_runnable
    assert reread.validation_report is not None and "E103" in reread.validation_report.codes()
    listed = await without_echo.list()
    assert [c.is_runnable for c in listed.items] == [False]
    with pytest.raises(ConfigValidationError) as info:
        await without_echo.run_gate(config.config_id)
    assert info.value.code == "config_invalid"
    # The original registry still accepts it.
    _, parsed = await service.run_gate(config.config_id)
    assert parsed.name == "from-yaml"


async def test_update_versions_and_refuses_unparseable(service: PipelineConfigService) -> None:
    config = await service.create(VALID)
    renamed = await service.update(config.config_id, VALID, name="renamed")
    assert (renamed.version, renamed.name) == (1, "renamed")
    changed = await service.update(config.config_id, UNKNOWN_TYPE, expected_version=1)
    assert changed.version == 2 and not changed.is_runnable
    with pytest.raises(YamlParseError):
        await service.update(config.config_id, "a: [", expected_version=2)
    assert (await service.get(config.config_id)).config_yaml == UNKNOWN_TYPE
    with pytest.raises(ConfigNotFoundError):
        await service.update("0190c6a4-0000-7000-8000-00000000ffff", VALID)


async def test_deactivated_config_is_readable_not_runnable(service: PipelineConfigService) -> None:
    config = await service.create(VALID)
    gone = await service.deactivate(config.config_id)
    assert not gone.is_active and not gone.is_runnable
    assert gone.validation_report is not None and gone.validation_report.is_valid
    with pytest.raises(ConfigInactiveError):
        await service.run_gate(config.config_id)
    with pytest.raises(ConfigInactiveError):
        await service.update(config.config_id, VALID)
    assert [c.config_id for c in (await service.list(state="inactive")).items] == [config.config_id]


async def test_active_route_ids(service: PipelineConfigService) -> None:
    await service.create(VALID)
    other = await service.create(VALID.replace("first:", "second:").replace("route: first", "route: second"))
    assert await service.active_route_ids() == {"first", "second"}
    await service.deactivate(other.config_id)
    assert await service.active_route_ids() == {"first"}
