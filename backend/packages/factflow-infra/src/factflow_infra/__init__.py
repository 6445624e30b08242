"""Queue, storage and database providers, and the worker registry."""

from __future__ import annotations

from .database import acquire_server_lock, create_database_engine, create_session_factory, run_migrations
from .queue import MemoryQueueProvider, RedisStreamsQueueProvider, create_queue_provider
from .storage import (
    FilesystemStorageProvider,
    MinioStorageProvider,
    StorageProviderFactory,
    StorageSettings,
    create_storage_provider,
)
from .workers import MemoryWorkerRegistry, RedisWorkerRegistry, create_worker_registry

__all__: tuple[str, ...] = (
    # queue
    "create_queue_provider",
    "MemoryQueueProvider",
    "RedisStreamsQueueProvider",
    # storage
    "create_storage_provider",
    "StorageSettings",
    "StorageProviderFactory",
    "FilesystemStorageProvider",
    "MinioStorageProvider",
    # database
    "create_database_engine",
    "create_session_factory",
    "run_migrations",
    "acquire_server_lock",
    # workers
    "create_worker_registry",
    "MemoryWorkerRegistry",
    "RedisWorkerRegistry",
)
