"""A subset of the API on PostgreSQL (own schema, own start-up lock key).

Skips when `FACTFLOW_TEST_DATABASE_URL` (default `postgresql+asyncpg://postgres@127.0.0.1:5432/test`)
is unreachable, and fails instead when `CI=true`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from factflow_infra.testing.plugin import postgres_test_schema
from factflow_server.testing import (
    RunningServer,
    assert_error,
    embedded_settings,
    postgres_lock_key,
    run_config,
    serve_in_thread,
    store_config,
    wait_execution,
)

pytestmark = pytest.mark.postgres


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pg_url() -> AsyncIterator[str]:
    async with postgres_test_schema() as url:
        yield url


@pytest.fixture(scope="module")
def pg_server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = embedded_settings(tmp_path_factory.mktemp("pg"), database_url=pg_url)
    with serve_in_thread(settings, lock_key=postgres_lock_key(pg_url)) as server:
        yield server


@pytest.fixture
def pg(pg_server: RunningServer) -> Iterator[httpx.Client]:
    with pg_server.client() as client:
        yield client


def test_health_reports_postgresql(pg: httpx.Client) -> None:
    body = pg.get("/api/v1/system/health", params={"debug": "true"}).json()
    assert body["status"] == "healthy"
    assert body["debug"]["database"]["dialect"] == "postgresql"
    assert body["debug"]["settings"]["database_url"].startswith("postgresql+asyncpg://")


def test_demo_run_configs_lineage_and_storage(pg: httpx.Client, demo_yaml: str) -> None:
    config_id = store_config(pg, demo_yaml)
    execution = run_config(pg, config_id, tag="pg-demo")
    result = wait_execution(pg, "pg-demo")
    assert result["status"] == "completed"
    assert result["stats"]["stage_counts"]["total"] == 14
    assert_error(pg.post(f"/api/v1/configs/{config_id}/run", params={"tag": "pg-demo"}), 409, "tag_conflict")
    detail = pg.get(f"/api/v1/executions/{execution['id']}").json()
    review = pg.get("/api/v1/lineage", params={"execution_id": "pg-demo", "route_id": "review"}).json()
    chain = pg.get(f"/api/v1/lineage/{review['entries'][0]['correlation_id']}/chain").json()
    assert chain["root_correlation_id"] == detail["root_correlation_id"]
    # Declaration order survives JSONB (which sorts object keys): it is read from the YAML text.
    stats = pg.get("/api/v1/lineage/stats", params={"execution_id": "pg-demo"}).json()
    assert [row["route_id"] for row in stats["rows"]] == ["intake", "intake", "pricing", "pricing", "review"]
    # ... and everything read from the snapshot keeps it too (the snapshot column is plain JSON).
    assert [route["route_id"] for route in detail["routes"]] == ["intake", "pricing", "review"]
    dag = pg.get("/api/v1/executions/pg-demo/dag").json()
    assert [node["route_id"] for node in dag["nodes"]] == ["intake", "pricing", "review"]
    routes = pg.get("/api/v1/executions/pg-demo/routes").json()["routes"]
    assert [route["route_id"] for route in routes] == ["intake", "pricing", "review"]
    listing = pg.get(
        "/api/v1/storage/objects",
        params={"prefix": "executions/", "delimiter": "/", "include_execution_info": "1"},
    ).json()
    assert listing["execution_prefixes"][0]["tag"] == "pg-demo"
    configs = pg.get("/api/v1/configs", params={"name": "DEMO"}).json()
    assert configs["total"] == 1


def test_pause_flag_round_trip(pg: httpx.Client, demo_yaml: str) -> None:
    store_config(pg, demo_yaml, name="pg-pause")
    assert pg.patch("/api/v1/pipelines/review", json={"state": "paused", "reason": "pg"}).status_code == 200
    assert pg.get("/api/v1/pipelines").json()["paused_routes"][0]["reason"] == "pg"
    assert pg.patch("/api/v1/pipelines/review", json={"state": "running"}).json()["previous_status"] == "paused"


def test_second_server_on_the_same_database_refuses_to_start(
    pg_url: str, pg_server: RunningServer, tmp_path: Path
) -> None:
    settings = embedded_settings(tmp_path, database_url=pg_url)
    with (
        pytest.raises(RuntimeError, match="start-up failed"),
        serve_in_thread(settings, lock_key=postgres_lock_key(pg_url)),
    ):
        pass
