"""Config endpoints C1–C7 (api.md §5.1)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from .._deps import ContainerDep
from ..schemas._common import ValidationReportModel
from ..schemas._configs import ConfigValidateRequest
from ._common import API_PREFIX, ERROR_RESPONSES

__all__ = ("router",)

router = APIRouter(prefix=f"{API_PREFIX}/configs", tags=["configs"], responses=ERROR_RESPONSES)


@router.post("/validate", response_model=ValidationReportModel, summary="Validate without storing")
async def validate_config(body: ConfigValidateRequest, container: ContainerDep) -> ValidationReportModel:
    """C6: the validation report of any YAML string (unparseable or oversized YAML included)."""
    report = await asyncio.to_thread(container.config_loader.validate, body.config_yaml)
    return ValidationReportModel.model_validate(report.to_dict())
