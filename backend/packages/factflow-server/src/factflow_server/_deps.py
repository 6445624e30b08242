"""FastAPI dependencies: each router asks for the services it uses, never for the whole container.

`get_container` is the only reader of the container (503 `orchestrator_unavailable` while the
server is not serving); the narrow providers below hand one service each on from its groups, so a
route's signature states what it depends on and a test can override exactly that.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from factflow_engine.registry import ValidatingAdapterRegistry
from factflow_engine.runtime import OrchestratorManager
from factflow_execution import (
    ExecutionEventHub,
    ExecutionEventStreamer,
    ExecutionService,
    PipelineConfigService,
    PipelineExecutionRepository,
    StorageEventStreamer,
)
from factflow_infra.storage import StorageProvider
from factflow_lineage import LineageRepository

from ._container import ServiceContainer
from ._deletion import ExecutionRemover
from ._errors import ApiError
from ._runtime import ServerRuntime
from ._workers import WorkerMonitor

__all__ = (
    "AdapterRegistryDep",
    "ConfigServiceDep",
    "ContainerDep",
    "EventHubDep",
    "ExecutionRemoverDep",
    "ExecutionRepositoryDep",
    "ExecutionServiceDep",
    "ExecutionStreamerDep",
    "LineageRepositoryDep",
    "ManagerDep",
    "RuntimeDep",
    "StorageDep",
    "StorageStreamerDep",
    "WorkerMonitorDep",
    "get_container",
    "get_runtime",
)


def get_runtime(request: Request) -> ServerRuntime:
    """The app's runtime (always present)."""
    runtime: ServerRuntime = request.app.state.runtime
    return runtime


def get_container(request: Request) -> ServiceContainer:
    """The running container; 503 while the server is not (or no longer) serving."""
    container = get_runtime(request).container
    if container is None:
        raise ApiError(503, "orchestrator_unavailable", "The server is not running (starting up or shut down).")
    return container


RuntimeDep = Annotated[ServerRuntime, Depends(get_runtime)]
ContainerDep = Annotated[ServiceContainer, Depends(get_container)]


def get_execution_service(container: ContainerDep) -> ExecutionService:
    return container.executions.service


def get_config_service(container: ContainerDep) -> PipelineConfigService:
    return container.pipelines.service


def get_adapter_registry(container: ContainerDep) -> ValidatingAdapterRegistry:
    return container.pipelines.registry


def get_manager(container: ContainerDep) -> OrchestratorManager:
    return container.executions.manager


def get_event_hub(container: ContainerDep) -> ExecutionEventHub:
    return container.executions.hub


def get_execution_streamer(container: ContainerDep) -> ExecutionEventStreamer:
    return container.executions.streamer


def get_storage_streamer(container: ContainerDep) -> StorageEventStreamer:
    return container.executions.storage_streamer


def get_execution_repository(container: ContainerDep) -> PipelineExecutionRepository:
    return container.executions.repository


def get_lineage_repository(container: ContainerDep) -> LineageRepository:
    return container.lineage.repository


def get_storage(container: ContainerDep) -> StorageProvider:
    return container.backends.storage


def get_worker_monitor(container: ContainerDep) -> WorkerMonitor:
    return container.cluster.workers


def get_execution_remover(container: ContainerDep) -> ExecutionRemover:
    executions = container.executions
    return ExecutionRemover(
        executions=executions.repository,
        manager=executions.manager,
        storage=container.backends.storage,
        queue=container.backends.queue,
        lineage=container.lineage.repository,
    )


ExecutionServiceDep = Annotated[ExecutionService, Depends(get_execution_service)]
ConfigServiceDep = Annotated[PipelineConfigService, Depends(get_config_service)]
AdapterRegistryDep = Annotated[ValidatingAdapterRegistry, Depends(get_adapter_registry)]
ManagerDep = Annotated[OrchestratorManager, Depends(get_manager)]
WorkerMonitorDep = Annotated[WorkerMonitor, Depends(get_worker_monitor)]
EventHubDep = Annotated[ExecutionEventHub, Depends(get_event_hub)]
ExecutionStreamerDep = Annotated[ExecutionEventStreamer, Depends(get_execution_streamer)]
StorageStreamerDep = Annotated[StorageEventStreamer, Depends(get_storage_streamer)]
ExecutionRepositoryDep = Annotated[PipelineExecutionRepository, Depends(get_execution_repository)]
LineageRepositoryDep = Annotated[LineageRepository, Depends(get_lineage_repository)]
StorageDep = Annotated[StorageProvider, Depends(get_storage)]
ExecutionRemoverDep = Annotated[ExecutionRemover, Depends(get_execution_remover)]
