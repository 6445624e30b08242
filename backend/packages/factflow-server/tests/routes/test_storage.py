from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from factflow_infra.storage import FilesystemStorageProvider
from factflow_server.testing import RunningServer, assert_error, run_config, store_config, wait_execution


def _write(server: RunningServer, objects: dict[str, tuple[bytes, dict[str, Any] | None, str]]) -> None:
    root = server.settings.storage_uri
    assert root is not None and root.startswith("file://")

    async def write_all() -> None:
        provider = FilesystemStorageProvider(root.removeprefix("file://"))
        await provider.start()
        for key, (data, metadata, content_type) in objects.items():
            await provider.write(key, data, metadata, content_type=content_type)

    asyncio.run(write_all())


@pytest.fixture(scope="module")
def seeded(factflow_server: RunningServer) -> RunningServer:
    _write(
        factflow_server,
        {
            "docs/a.json": (b'{"a": 1}', {"url": "https://x", "kind": "artefact", "team": "blue"}, "application/json"),
            "docs/b.md": (b"# b", None, "text/markdown"),
            "docs/sub/c.json": (b"{}", None, "application/json"),
            "docs/sub/deeper/d.txt": (b"d", None, "text/plain"),
            "notes/metadata": (b"m", None, "application/octet-stream"),
            "top.bin": (b"\x00\x01", None, "application/octet-stream"),
        },
    )
    return factflow_server


@pytest.fixture
def client(seeded: RunningServer) -> Iterator[httpx.Client]:
    with seeded.client() as c:
        yield c


def test_list_everything_in_key_order(client: httpx.Client) -> None:
    body = client.get("/api/v1/storage/objects").json()
    keys = [item["key"] for item in body["objects"]]
    assert keys == sorted(keys)
    assert set(keys) >= {"docs/a.json", "docs/b.md", "docs/sub/c.json", "top.bin"}
    assert not any(key.endswith(".meta.json") for key in keys)
    assert body["prefix"] == "" and body["delimiter"] is None
    assert body["common_prefixes"] == [] and body["execution_prefixes"] == []
    first = next(item for item in body["objects"] if item["key"] == "docs/a.json")
    assert first["size"] == 8
    assert first["content_type"] == "application/json"
    assert first["last_modified"].endswith("Z")
    meta = first["metadata"]
    assert meta["key"] == "docs/a.json"
    assert meta["url"] == "https://x" and meta["kind"] == "artefact"
    assert meta["custom"] == {"team": "blue"}
    assert meta["checksum"].startswith("sha256:")


def test_paging_fields(client: httpx.Client) -> None:
    body = client.get("/api/v1/storage/objects", params={"prefix": "docs/", "limit": 2, "offset": 1}).json()
    assert [item["key"] for item in body["objects"]] == ["docs/b.md", "docs/sub/c.json"]
    assert (body["total"], body["limit"], body["offset"], body["has_more"]) == (4, 2, 1, True)
    past = client.get("/api/v1/storage/objects", params={"prefix": "docs/", "offset": 50}).json()
    assert past["objects"] == [] and past["total"] == 4 and past["has_more"] is False


def test_folder_view(client: httpx.Client) -> None:
    body = client.get("/api/v1/storage/objects", params={"prefix": "docs/", "delimiter": "/"}).json()
    assert [item["key"] for item in body["objects"]] == ["docs/a.json", "docs/b.md"]
    assert body["common_prefixes"] == ["docs/sub/"]
    assert body["total"] == 3
    root = client.get("/api/v1/storage/objects", params={"delimiter": "/"}).json()
    assert "docs/" in root["common_prefixes"] and "top.bin" in [o["key"] for o in root["objects"]]


def test_extension_filter_and_no_metadata(client: httpx.Client) -> None:
    body = client.get("/api/v1/storage/objects", params={"extension": ".md,txt", "include_metadata": "false"}).json()
    assert [item["key"] for item in body["objects"]] == ["docs/b.md", "docs/sub/deeper/d.txt"]
    assert all(item["metadata"] is None for item in body["objects"])


def test_identity_filters_never_match_other_layouts(client: httpx.Client) -> None:
    body = client.get("/api/v1/storage/objects", params={"route_id": "docs"}).json()
    assert body["objects"] == [] and body["total"] == 0


def test_list_errors(client: httpx.Client) -> None:
    assert_error(client.get("/api/v1/storage/objects", params={"prefix": "/abs"}), 422, "invalid_key")
    assert_error(client.get("/api/v1/storage/objects", params={"prefix": "a/../b"}), 422, "invalid_key")
    assert_error(client.get("/api/v1/storage/objects", params={"delimiter": ","}), 422, "request_validation_error")
    assert_error(client.get("/api/v1/storage/objects", params={"limit": 1001}), 422, "request_validation_error")
    assert_error(
        client.get("/api/v1/storage/objects", params={"execution_id": "no-such-tag"}), 404, "execution_not_found"
    )


def test_get_object_bytes_and_headers(client: httpx.Client) -> None:
    response = client.get("/api/v1/storage/objects/docs/a.json")
    assert response.status_code == 200
    assert response.content == b'{"a": 1}'
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == "8"
    assert response.headers["etag"].startswith('"sha256:')
    assert parsedate_to_datetime(response.headers["last-modified"]).tzinfo is not None
    assert response.headers["content-disposition"] == 'inline; filename="a.json"'
    markdown = client.get("/api/v1/storage/objects/docs/b.md")
    assert markdown.headers["content-type"].startswith("text/markdown")


def test_get_object_errors(client: httpx.Client) -> None:
    assert_error(client.get("/api/v1/storage/objects/docs/missing.json"), 404, "object_not_found")
    assert_error(client.get("/api/v1/storage/objects/docs/a.json.meta.json"), 422, "invalid_key")
    assert_error(client.get("/api/v1/storage/objects/docs//a.json"), 422, "invalid_key")


def test_metadata_suffix_routes_to_metadata(client: httpx.Client) -> None:
    body = client.get("/api/v1/storage/objects/docs/a.json/metadata").json()
    assert body["key"] == "docs/a.json"
    assert body["content_length"] == 8
    assert body["custom"] == {"team": "blue"}
    # An object literally named `metadata` is unreachable through S2 (api.md S2).
    assert_error(client.get("/api/v1/storage/objects/notes/metadata"), 404, "object_not_found")


def test_metadata_without_sidecar_has_basic_facts(seeded: RunningServer, client: httpx.Client) -> None:
    root = Path(str(seeded.settings.storage_uri).removeprefix("file://"))
    (root / "raw").mkdir(exist_ok=True)
    (root / "raw" / "plain.txt").write_bytes(b"xyz")
    body = client.get("/api/v1/storage/objects/raw/plain.txt/metadata").json()
    assert body["key"] == "raw/plain.txt"
    assert body["content_length"] == 3
    assert body["content_type"] == "application/octet-stream"
    assert body["modified_at"].endswith("Z")
    assert body["custom"] == {}
    assert body["checksum"] is None and body["execution_id"] is None
    raw = client.get("/api/v1/storage/objects/raw/plain.txt")
    assert raw.content == b"xyz" and "etag" not in raw.headers
    assert_error(client.get("/api/v1/storage/objects/docs/nope/metadata"), 404, "object_not_found")


@pytest.fixture(scope="module")
def demo_run(seeded: RunningServer, demo_yaml: str) -> dict[str, Any]:
    with seeded.client() as client:
        execution = run_config(client, store_config(client, demo_yaml, name="storage-demo"), tag="storage-demo")
        wait_execution(client, execution["id"])
        detail: dict[str, Any] = client.get(f"/api/v1/executions/{execution['id']}").json()
        return detail


def test_identity_filters_on_stage_outputs(client: httpx.Client, demo_run: dict[str, Any]) -> None:
    execution_id = demo_run["id"]
    everything = client.get(
        "/api/v1/storage/objects", params={"execution_id": "storage-demo", "include_metadata": "false"}
    ).json()
    keys = [item["key"] for item in everything["objects"]]
    assert everything["total"] == 16 and all(key.startswith(f"executions/{execution_id}/") for key in keys)
    assert any(key.endswith(".fanout.json") for key in keys)
    pricing = client.get(
        "/api/v1/storage/objects", params={"execution_id": execution_id, "route_id": "pricing", "stage": "bulk_flag"}
    ).json()
    assert pricing["total"] == 2  # only the bulk items ran the stage
    meta = pricing["objects"][0]["metadata"]
    assert (meta["execution_id"], meta["route_id"], meta["stage"], meta["kind"]) == (
        execution_id,
        "pricing",
        "bulk_flag",
        "stage_output",
    )
    assert meta["adapter_name"] == "set_fields" and meta["adapter_index"] == 1
    assert meta["config_id"] == demo_run["config_id"] and meta["custom"] == {}
    root = demo_run["root_correlation_id"]
    mine = client.get("/api/v1/storage/objects", params={"execution_id": execution_id, "correlation_id": root}).json()
    assert {item["key"].rsplit("/", 1)[-1] for item in mine["objects"]} == {
        f"{root}.json",
        f"{root}.fanout.json",
    }
    by_route_only = client.get("/api/v1/storage/objects", params={"route_id": "review"}).json()
    assert by_route_only["total"] == 2


def test_folder_view_with_execution_info(client: httpx.Client, demo_run: dict[str, Any]) -> None:
    body = client.get(
        "/api/v1/storage/objects",
        params={"prefix": "executions/", "delimiter": "/", "include_execution_info": "true"},
    ).json()
    assert f"executions/{demo_run['id']}/" in body["common_prefixes"]
    info = next(item for item in body["execution_prefixes"] if item["execution_id"] == demo_run["id"])
    assert info == {
        "prefix": f"executions/{demo_run['id']}/",
        "execution_id": demo_run["id"],
        "status": "completed",
        "config_id": demo_run["config_id"],
        "config_name": "storage-demo",
        "tag": "storage-demo",
        "started_at": demo_run["started_at"],
    }
    routes = client.get(
        "/api/v1/storage/objects", params={"prefix": f"executions/{demo_run['id']}/", "delimiter": "/"}
    ).json()
    assert routes["common_prefixes"] == [
        f"executions/{demo_run['id']}/intake/",
        f"executions/{demo_run['id']}/pricing/",
        f"executions/{demo_run['id']}/review/",
    ]
    assert routes["execution_prefixes"] == []


def test_stage_output_bytes(client: httpx.Client, demo_run: dict[str, Any]) -> None:
    listing = client.get(
        "/api/v1/storage/objects", params={"execution_id": demo_run["id"], "route_id": "review"}
    ).json()
    key = listing["objects"][0]["key"]
    body = client.get(f"/api/v1/storage/objects/{key}").json()
    assert body["review"] == {"required": True, "queue": "operations"}
    assert body["bulk"] is True and body["order_id"] == "ORD-1001"
