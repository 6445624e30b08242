"""Adapter endpoints A1/A2 (docs/reference/http-api.md)."""

from __future__ import annotations

from fastapi import APIRouter

from factflow_engine.registry import AdapterNotFoundError

from .._deps import AdapterRegistryDep
from .._errors import ApiError
from ..schemas._adapters import AdapterInfo, AdapterListResponse
from ._common import API_PREFIX, ERROR_RESPONSES, errors

__all__ = ("router",)

router = APIRouter(prefix=f"{API_PREFIX}/adapters", tags=["adapters"], responses=ERROR_RESPONSES)


@router.get(
    "",
    response_model=AdapterListResponse,
    summary="Every adapter type the server discovered",
    operation_id="list_adapters",
)
async def list_adapters(registry: AdapterRegistryDep) -> AdapterListResponse:
    """Every discovered type, usable or broken, sorted by `type`."""
    infos = [AdapterInfo.model_validate(info) for info in registry.describe()]
    return AdapterListResponse(adapters=sorted(infos, key=lambda info: info.type))


@router.get(
    "/{adapter_type}",
    response_model=AdapterInfo,
    responses=errors(404),
    summary="One adapter type in detail",
    operation_id="get_adapter",
)
async def get_adapter(adapter_type: str, registry: AdapterRegistryDep) -> AdapterInfo:
    """One type; 404 `adapter_not_found` with close matches in `context.candidates`."""
    try:
        info = registry.describe_one(adapter_type)
    except AdapterNotFoundError as exc:
        raise ApiError(
            404,
            "adapter_not_found",
            f"Adapter type {adapter_type!r} is not registered.",
            context={"candidates": list(exc.candidates)},
        ) from exc
    return AdapterInfo.model_validate(info)
