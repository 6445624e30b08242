"""Config endpoints C1–C7 (docs/reference/http-api.md)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from factflow_execution import UNSET, ConfigSourceType, PipelineConfig

from .._deps import ConfigServiceDep, ExecutionServiceDep
from .._params import (
    ExecutionSourceHeader,
    Offset,
    QueryBool,
    Tag,
    check_json_values,
    check_metadata_size,
    source_of,
)
from ..schemas._common import ValidationReport
from ..schemas._configs import (
    ConfigCreateRequest,
    ConfigListResponse,
    ConfigRunRequest,
    ConfigUpdateRequest,
    ConfigValidateRequest,
    PipelineConfigDetailResponse,
    PipelineConfigResponse,
)
from ..schemas._executions import ExecutionResponse
from ._common import API_PREFIX, CONFIG_LINKS, ERROR_RESPONSES, EXECUTION_LINKS, errors, links
from ._paging import page_fields

__all__ = ("router", "start_execution")

router = APIRouter(prefix=f"{API_PREFIX}/configs", tags=["configs"], responses=ERROR_RESPONSES)


def _summary(config: PipelineConfig) -> PipelineConfigResponse:
    return PipelineConfigResponse.model_validate(config.to_api())


def _detail(config: PipelineConfig) -> PipelineConfigDetailResponse:
    return PipelineConfigDetailResponse.model_validate(config.to_api(include_yaml=True))


@router.post(
    "",
    status_code=201,
    response_model=PipelineConfigResponse,
    responses={**errors(400), **links(201, "config_id", "$response.body#/id", CONFIG_LINKS)},
    summary="Store a config",
    operation_id="create_config",
)
async def create_config(
    body: ConfigCreateRequest, configs: ConfigServiceDep, response: Response
) -> PipelineConfigResponse:
    """Store the YAML at version 1 (validation errors do not block storing; unparseable YAML does)."""
    config = await configs.create(
        body.config_yaml,
        name=body.name,
        description=body.description if "description" in body.model_fields_set else UNSET,
        source_type=ConfigSourceType(body.source_type),
        source_path=body.source_path,
    )
    response.headers["Location"] = f"{API_PREFIX}/configs/{config.config_id}"
    return _summary(config)


@router.get(
    "",
    response_model=ConfigListResponse,
    responses=links(200, "config_id", "$response.body#/configs/0/id", CONFIG_LINKS),
    summary="List configs",
    operation_id="list_configs",
)
async def list_configs(
    configs: ConfigServiceDep,
    state: Literal["active", "inactive", "all"] = "active",
    name: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> ConfigListResponse:
    """Newest `updated_at` first; `name` is a case-insensitive substring."""
    page = await configs.list(state=state, name=name, limit=limit, offset=offset)
    return ConfigListResponse(
        **page_fields(total=page.total, limit=limit, offset=offset, count=len(page.items)),
        configs=[_summary(config) for config in page.items],
    )


@router.post(
    "/validate", response_model=ValidationReport, summary="Validate without storing", operation_id="validate_config"
)
async def validate_config(body: ConfigValidateRequest, configs: ConfigServiceDep) -> ValidationReport:
    """The validation report of any YAML string (unparseable or oversized YAML included)."""
    report = await configs.validate(body.config_yaml)
    return ValidationReport.model_validate(report.to_dict())


@router.get(
    "/{config_id}",
    response_model=PipelineConfigDetailResponse,
    responses=errors(404),
    summary="Config detail",
    operation_id="get_config",
)
async def get_config(config_id: uuid.UUID, configs: ConfigServiceDep) -> PipelineConfigDetailResponse:
    """The config with its YAML (inactive ones too)."""
    return _detail(await configs.get(str(config_id)))


@router.put(
    "/{config_id}",
    response_model=PipelineConfigDetailResponse,
    responses=errors(400, 404, 409),
    summary="Replace a config",
    operation_id="update_config",
)
async def update_config(
    config_id: uuid.UUID, body: ConfigUpdateRequest, configs: ConfigServiceDep
) -> PipelineConfigDetailResponse:
    """The version goes up only when the YAML text changes; absent `name`/`description` keep."""
    fields = body.model_fields_set
    config = await configs.update(
        str(config_id),
        body.config_yaml,
        name=body.name if "name" in fields and body.name is not None else UNSET,
        description=body.description if "description" in fields else UNSET,
        expected_version=body.expected_version,
    )
    return _detail(config)


@router.delete(
    "/{config_id}", status_code=204, responses=errors(404), summary="Deactivate a config", operation_id="delete_config"
)
async def delete_config(config_id: uuid.UUID, configs: ConfigServiceDep) -> Response:
    """Soft delete; idempotent; the config stays readable."""
    await configs.deactivate(str(config_id))
    return Response(status_code=204)


async def start_execution(
    service: ExecutionServiceDep,
    response: Response,
    *,
    config_id: str,
    source: str,
    tag: str | None,
    metadata: dict[str, Any] | None,
    init_payload_overrides: dict[str, Any] | None,
    skip_init_message: bool,
    lineage_retention_days: float | None = None,
) -> ExecutionResponse:
    """C7 and E1: run gate, slot, tag, row, start; 201 with `Location`."""
    check_metadata_size(metadata)
    check_json_values("init_payload_overrides", init_payload_overrides)
    execution = await service.create(
        config_id,
        source=source,
        tag=tag,
        metadata=metadata,
        init_payload_overrides=init_payload_overrides,
        skip_init=skip_init_message,
        lineage_retention_days=lineage_retention_days,
    )
    response.headers["Location"] = f"{API_PREFIX}/executions/{execution.execution_id}"
    return ExecutionResponse.model_validate(execution.to_api())


@router.post(
    "/{config_id}/run",
    status_code=201,
    response_model=ExecutionResponse,
    responses={**errors(400, 404, 409, 429), **links(201, "ref", "$response.body#/id", EXECUTION_LINKS)},
    summary="Start an execution",
    operation_id="run_config",
)
async def run_config(
    config_id: uuid.UUID,
    service: ExecutionServiceDep,
    response: Response,
    x_factflow_source: ExecutionSourceHeader = None,
    skip_init_message: Annotated[QueryBool, Query()] = False,
    tag: Annotated[Tag | None, Query()] = None,
    body: ConfigRunRequest | None = None,
) -> ExecutionResponse:
    """Start an execution of the config; returns once the init message is published."""
    return await start_execution(
        service,
        response,
        config_id=str(config_id),
        source=source_of(x_factflow_source),
        tag=tag,
        metadata=body.metadata if body is not None else None,
        init_payload_overrides=body.init_payload_overrides if body is not None else None,
        skip_init_message=skip_init_message,
        lineage_retention_days=body.lineage_retention_days if body is not None else None,
    )
