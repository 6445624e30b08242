"""The OpenAPI tags of the HTTP API: set on the app, and the sections of the endpoint reference page."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ("TAG_DESCRIPTIONS",)

TAG_DESCRIPTIONS: Mapping[str, str] = {
    "configs": "Stored pipeline configs: create, version, validate, deactivate and run.",
    "executions": "Executions of a config: start, inspect, cancel, wait, follow and replay.",
    "replay": "Detached replay of stored stage outputs into any stored config.",
    "pipelines": "Routes across all running executions: metrics, pause and resume.",
    "storage": "Stored stage outputs and their metadata sidecars, and the live feed of writes.",
    "lineage": "Per-message, per-stage lineage rows: lookups, chains, failures and counts.",
    "system": "Health and the orchestrator's counters.",
    "adapters": "Adapter types the server discovered through the `factflow.adapters` entry points.",
    "workers": "The processes that run route processors: the server's local worker and `factflow-server worker`s.",
    "operations": "Operational paths outside `/api/v1` (no token needed).",
}
"""Every OpenAPI tag in page order, with the sentence that introduces it."""
