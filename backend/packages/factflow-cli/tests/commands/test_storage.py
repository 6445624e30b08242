"""`factflow storage list|browse|get|metadata|watch|download` against a live server."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pytest

from factflow_cli._calls import fetch_all_pages
from factflow_cli._client import ApiClient

if TYPE_CHECKING:
    from conftest import Cli

FACTFLOW = str(Path(sys.executable).with_name("factflow"))
BINARY = bytes(range(256)) + b"\x00\xff\xfe not utf-8 \xc3\x28"


@pytest.fixture(scope="module")
def done(ff: Cli) -> dict[str, Any]:
    """A completed split execution (10 objects: the fan-out manifest, 3 × 3 item outputs) plus planted files."""
    execution = ff.finish(ff.split_yaml("stdone"), tag="storage-done")
    # Objects the engine never writes (binary, text, a custom sidecar field), planted in the
    # server's filesystem storage under the execution's prefix.
    root = Path(urlparse(str(ff.server.settings.storage_uri)).path)
    folder = root / "executions" / execution["id"] / "stdone_sink" / "extra"
    folder.mkdir(parents=True)
    (folder / "blob.bin").write_bytes(BINARY)
    (folder / "note.txt").write_text("héllo\nworld\n")
    (folder / "note.txt.meta.json").write_text(json.dumps({"content_type": "text/plain", "reviewer": "ada"}))
    return execution


def keys_of(ff: Cli, execution_id: str, *args: str) -> list[str]:
    page = ff.json("storage", "list", "--execution", execution_id, *args)
    return [item["key"] for item in page["objects"]]


def sink_key(ff: Cli, execution_id: str) -> str:
    return keys_of(ff, execution_id, "--stage", "passthrough")[0]


def server_bytes(ff: Cli, key: str) -> bytes:
    with ff.client() as client:
        response = client.get(f"/api/v1/storage/objects/{key}")
        assert response.status_code == 200
        return response.content


# ---------------------------------------------------------------- list and browse


def test_list_filters_and_pages(ff: Cli, done: dict[str, Any]) -> None:
    page = ff.json("storage", "list", "--execution", "storage-done")
    assert page["total"] == 12 and page["limit"] == 100
    assert all(item["metadata"] is None for item in page["objects"])  # include_metadata=false
    keys = [item["key"] for item in page["objects"]]
    assert keys == sorted(keys) and all(key.startswith(f"executions/{done['id']}/") for key in keys)
    assert len(keys_of(ff, done["id"], "--route", "stdone_sink")) == 5
    assert len(keys_of(ff, done["id"], "--route", "stdone_intake", "--stage", "set_fields")) == 3
    second = ff.json("storage", "list", "--execution", done["id"], "--limit", "4", "--offset", "4")
    assert [item["key"] for item in second["objects"]] == keys[4:8]
    merged = ff.json("storage", "list", "--execution", done["id"], "--all")
    assert [item["key"] for item in merged["objects"]] == keys
    assert (merged["offset"], merged["has_more"]) == (0, False)


def test_list_table(ff: Cli, done: dict[str, Any]) -> None:
    text = ff.table("storage", "list", "--execution", done["id"], "--limit", "3").stdout
    rows = ff.table_rows(text, ["KEY", "SIZE", "TYPE", "MODIFIED"])
    assert [row["KEY"] for row in rows] == keys_of(ff, done["id"])[:3]
    assert all(row["SIZE"].endswith(" B") and row["MODIFIED"].endswith("Z") for row in rows)
    assert text.splitlines()[-1] == "showing 1–3 of 12 (next: --offset 3)"


def test_every_page_is_followed_and_merged(ff: Cli, done: dict[str, Any]) -> None:
    async def merge() -> dict[str, Any]:
        async with ApiClient(ff.server.base_url + "/api/v1", token=None, timeout=30) as api:
            params = {"execution_id": done["id"]}
            return await fetch_all_pages(api, "/storage/objects", items="objects", params=params, limit=2)

    merged = asyncio.run(merge())
    assert [item["key"] for item in merged["objects"]] == keys_of(ff, done["id"])
    assert (merged["total"], merged["offset"], merged["has_more"]) == (12, 0, False)


def test_list_unknown_execution_exits_7(ff: Cli) -> None:
    assert ff("storage", "list", "--execution", "no-such-tag").exit_code == 7
    assert ff("storage", "list").exit_code == 2  # --execution is required


def test_browse_folders_and_objects(ff: Cli, done: dict[str, Any]) -> None:
    root = ff.json("storage", "browse")
    assert "executions/" in root["common_prefixes"]
    text = ff.table("storage", "browse", "executions").stdout
    folders = ff.table_rows(text, ["PREFIX", "EXECUTION STATUS", "CONFIG", "STARTED"])
    mine = next(row for row in folders if row["PREFIX"] == f"executions/{done['id']}/")
    assert (mine["EXECUTION STATUS"], mine["CONFIG"]) == ("completed", "stdone-split (storage-done)")
    objects = ff.table("storage", "browse", f"executions/{done['id']}/stdone_sink/extra/").stdout
    rows = ff.table_rows(objects, ["NAME", "SIZE", "MODIFIED"])
    assert [row["NAME"] for row in rows] == ["blob.bin", "note.txt"]
    assert objects.splitlines()[-1] == "showing 1–2 of 2"


# ---------------------------------------------------------------- get and metadata


def test_get_raw_is_byte_exact_into_a_file(ff: Cli, done: dict[str, Any], tmp_path: Path) -> None:
    for key in (sink_key(ff, done["id"]), f"executions/{done['id']}/stdone_sink/extra/blob.bin"):
        target = tmp_path / "out.bin"
        with target.open("wb") as out:
            result = subprocess.run(
                [FACTFLOW, "--server", ff.server.base_url, "storage", "get", key],
                stdout=out,
                stderr=subprocess.PIPE,
                check=False,
                timeout=60,
            )
        assert result.returncode == 0, result.stderr
        assert target.read_bytes() == server_bytes(ff, key)
    assert target.read_bytes() == BINARY


def test_get_refuses_binary_on_a_terminal(ff: Cli, done: dict[str, Any]) -> None:
    master, slave = os.openpty()
    try:
        binary = subprocess.run(
            [
                FACTFLOW,
                "--server",
                ff.server.base_url,
                "storage",
                "get",
                f"executions/{done['id']}/stdone_sink/extra/blob.bin",
            ],
            stdout=slave,
            stderr=subprocess.PIPE,
            check=False,
            timeout=60,
        )
        text = subprocess.run(
            [
                FACTFLOW,
                "--server",
                ff.server.base_url,
                "storage",
                "get",
                f"executions/{done['id']}/stdone_sink/extra/note.txt",
            ],
            stdout=slave,
            stderr=subprocess.PIPE,
            check=False,
            timeout=60,
        )
        printed = os.read(master, 65536)
    finally:
        os.close(slave)
        os.close(master)
    assert binary.returncode == 1
    assert b"is not UTF-8 text; redirect it to a file" in binary.stderr
    assert text.returncode == 0
    assert printed.replace(b"\r\n", b"\n") == "héllo\nworld\n".encode()


def test_get_json_encodings(ff: Cli, done: dict[str, Any]) -> None:
    key = sink_key(ff, done["id"])
    document = ff.json("storage", "get", key, "--output", "json")
    assert set(document) == {"key", "content_type", "size", "metadata", "encoding", "content"}
    assert (document["key"], document["content_type"], document["encoding"]) == (key, "application/json", "json")
    assert document["content"] == json.loads(server_bytes(ff, key))
    assert document["size"] == len(server_bytes(ff, key))
    assert document["metadata"]["correlation_id"] == key.rsplit("/", 1)[-1].removesuffix(".json")
    text = ff.json("storage", "get", f"executions/{done['id']}/stdone_sink/extra/note.txt", "-o", "json")
    assert (text["encoding"], text["content"], text["content_type"]) == ("utf-8", "héllo\nworld\n", "text/plain")
    binary = ff.json("storage", "get", f"executions/{done['id']}/stdone_sink/extra/blob.bin", "-o", "json")
    assert binary["encoding"] == "base64"
    assert base64.b64decode(binary["content"]) == BINARY
    assert binary["size"] == len(BINARY)


def test_get_table(ff: Cli, done: dict[str, Any]) -> None:
    key = sink_key(ff, done["id"])
    text = ff.table("storage", "get", key).stdout
    assert f"KEY       {key}" in text and "TYPE      application/json" in text
    assert '"seen": true' in text  # pretty JSON
    binary = ff("storage", "get", f"executions/{done['id']}/stdone_sink/extra/blob.bin", "-o", "table")
    assert (binary.exit_code, binary.stdout) == (1, "")
    assert "is binary" in binary.stderr


def test_get_errors(ff: Cli, done: dict[str, Any]) -> None:
    missing = ff("storage", "get", f"executions/{done['id']}/nope.json", "-o", "table")
    assert (missing.exit_code, missing.stdout) == (7, "")
    assert "[object_not_found, status 404" in missing.stderr
    assert ff("storage", "get", "executions/../x.json").exit_code == 2  # 422 invalid_key
    assert ff("storage", "get", "a b/c?.json").exit_code == 7  # reserved characters are encoded, not cut


def test_metadata(ff: Cli, done: dict[str, Any]) -> None:
    key = sink_key(ff, done["id"])
    metadata = ff.json("storage", "metadata", key)
    assert (metadata["key"], metadata["route_id"], metadata["stage"]) == (key, "stdone_sink", "passthrough")
    rows = ff.table_rows(ff.table("storage", "metadata", key).stdout, ["FIELD", "VALUE"])
    assert [row["FIELD"] for row in rows] == [field for field in metadata if field != "custom"]
    assert {row["FIELD"]: row["VALUE"] for row in rows}["execution_id"] == done["id"]
    planted = ff.table("storage", "metadata", f"executions/{done['id']}/stdone_sink/extra/note.txt").stdout
    assert ff.table_rows(planted, ["FIELD", "VALUE"])[-1] == {"FIELD": "custom.reviewer", "VALUE": "ada"}
    assert ff("storage", "metadata", f"executions/{done['id']}/nope.json").exit_code == 7


# ---------------------------------------------------------------- watch


def test_watch_a_finished_execution_ends_at_once(ff: Cli, done: dict[str, Any]) -> None:
    table = ff.table("storage", "watch", "--execution", "storage-done")
    assert table.stdout == f"Execution {done['id']} finished: completed\n"
    lines = ff("storage", "watch", "--execution", done["id"], output="json").stdout.splitlines()
    assert len(lines) == 1
    finished = json.loads(lines[0])
    assert (finished["type"], finished["execution_id"], finished["status"]) == (
        "execution.finished",
        done["id"],
        "completed",
    )
    assert ff("storage", "watch", "--execution", "no-such-tag").exit_code == 7


def _intake_marked(ff: Cli, execution_id: str) -> int:
    params: dict[str, str | int] = {
        "execution_id": execution_id,
        "route_id": "stlive_intake",
        "stage_name": "set_fields",
        "limit": 10,
    }
    with ff.client() as client:
        rows = client.get("/api/v1/lineage", params=params).json()["entries"]
    return sum(1 for row in rows if row["stage_status"] == "completed")


@pytest.fixture
def paused_run(ff: Cli) -> Iterator[dict[str, Any]]:
    """A running split execution whose sink route is paused (resumed and finished afterwards)."""
    config_id = ff.store(ff.split_yaml("stlive"))  # pausing needs a known route name
    ff.json("pipeline", "pause", "stlive_sink")
    execution = ff.start(config_id)
    # The intake's writes are over before a test watches (on worker processes it starts a moment later).
    ff.wait_for(lambda: _intake_marked(ff, execution["id"]) == 3, what="the intake's three marked items")
    yield execution
    ff.json("pipeline", "resume", "stlive_sink")
    ff.json("execution", "wait", execution["id"])


def test_watch_prints_writes_live_as_ndjson_until_the_end(ff: Cli, paused_run: dict[str, Any]) -> None:
    watcher = subprocess.Popen(
        [
            FACTFLOW,
            "--server",
            ff.server.base_url,
            "storage",
            "watch",
            "--execution",
            paused_run["id"],
            "--route",
            "stlive_sink",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        ff.wait_subscribed(paused_run["id"])
        ff.json("pipeline", "resume", "stlive_sink")
        stdout, stderr = watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate(timeout=30)
    assert watcher.returncode == 0, stderr
    events = [json.loads(line) for line in stdout.decode().splitlines()]
    writes = [event for event in events if event["type"] == "storage.object.created"]
    assert len(writes) == 3
    assert {event["route_id"] for event in writes} == {"stlive_sink"}
    assert all(event["key"].startswith(f"executions/{paused_run['id']}/stlive_sink/passthrough/") for event in writes)
    assert events[-1]["type"] == "execution.finished" and events[-1]["status"] == "completed"


def test_watch_timeout_exits_5(ff: Cli, paused_run: dict[str, Any]) -> None:
    timed_out = ff("--timeout", "1s", "storage", "watch", "--execution", paused_run["id"], output="table")
    assert timed_out.exit_code == 5
    assert "the --timeout of 1s was reached" in timed_out.stderr


def test_watch_ctrl_c_exits_0(ff: Cli, paused_run: dict[str, Any]) -> None:
    watcher = subprocess.Popen(
        [FACTFLOW, "--server", ff.server.base_url, "-o", "table", "storage", "watch", "--execution", paused_run["id"]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        ff.wait_subscribed(paused_run["id"])
        watcher.send_signal(signal.SIGINT)
        stdout, stderr = watcher.communicate(timeout=30)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate(timeout=30)
    assert watcher.returncode == 0, stderr
    assert b"Traceback" not in stderr


def test_watch_table_shows_one_line_per_write(ff: Cli, paused_run: dict[str, Any]) -> None:
    watcher = subprocess.Popen(
        [FACTFLOW, "--server", ff.server.base_url, "-o", "table", "storage", "watch", "--execution", paused_run["id"]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        ff.wait_subscribed(paused_run["id"])
        ff.json("pipeline", "resume", "stlive_sink")
        stdout, stderr = watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate(timeout=30)
    assert watcher.returncode == 0, stderr
    lines = stdout.decode().splitlines()
    assert lines[0].split() == ["TIME", "ROUTE", "STAGE", "SIZE", "KEY"]
    assert len(lines) == 5
    for line in lines[1:4]:
        time_part, rest = line[:20], line[20:].split()
        assert time_part.endswith("Z")
        assert rest[:2] == ["stlive_sink", "passthrough"] and rest[3] == "B"
        assert rest[4].startswith(f"executions/{paused_run['id']}/stlive_sink/passthrough/")
    assert lines[4] == f"Execution {paused_run['id']} finished: completed"


# ---------------------------------------------------------------- download


def test_download_writes_the_key_tree(ff: Cli, done: dict[str, Any], tmp_path: Path) -> None:
    report = ff.json("storage", "download", "storage-done", "-d", str(tmp_path), "--include-metadata")
    keys = keys_of(ff, done["id"])
    assert report == {
        "execution_id": done["id"],
        "output_dir": str(tmp_path),
        "objects": 12,
        "downloaded": 12,
        "skipped": 0,
        "failed": 0,
        "bytes": sum(len(server_bytes(ff, key)) for key in keys),
        "failures": [],
    }
    for key in keys:
        assert (tmp_path / key).read_bytes() == server_bytes(ff, key)
        metadata = json.loads((tmp_path / f"{key}.meta.json").read_text())
        assert metadata["key"] == key
    written = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file())
    assert written == sorted([*keys, *(f"{key}.meta.json" for key in keys)])


def test_download_skips_existing_files_unless_overwrite(ff: Cli, done: dict[str, Any], tmp_path: Path) -> None:
    keys = keys_of(ff, done["id"], "--route", "stdone_intake")
    first = ff.json("storage", "download", done["id"], "--output-dir", str(tmp_path), "--route", "stdone_intake")
    assert (first["objects"], first["downloaded"]) == (len(keys), len(keys))
    (tmp_path / keys[0]).write_bytes(b"changed")
    again = ff.json(
        "storage", "download", done["id"], "-d", str(tmp_path), "--route", "stdone_intake", "--concurrency", "1"
    )
    assert (again["downloaded"], again["skipped"], again["bytes"]) == (0, len(keys), 0)
    assert (tmp_path / keys[0]).read_bytes() == b"changed"
    forced = ff.json("storage", "download", done["id"], "-d", str(tmp_path), "--route", "stdone_intake", "--overwrite")
    assert (forced["downloaded"], forced["skipped"]) == (len(keys), 0)
    assert (tmp_path / keys[0]).read_bytes() == server_bytes(ff, keys[0])


def test_download_table_and_failures(ff: Cli, done: dict[str, Any], tmp_path: Path) -> None:
    blocked = f"executions/{done['id']}/stdone_sink/extra/note.txt"
    (tmp_path / blocked).mkdir(parents=True)  # a directory where the file must go
    result = ff(
        "storage", "download", done["id"], "-d", str(tmp_path), "--route", "stdone_sink", "--overwrite", output="table"
    )
    assert result.exit_code == 1, result.stdout
    assert "FAILED      1" in result.stdout and "DOWNLOADED  4" in result.stdout
    failures = ff.table_rows(result.stdout, ["KEY", "ERROR"])
    assert [row["KEY"] for row in failures] == [blocked]
    as_json = ff(
        "storage", "download", done["id"], "-d", str(tmp_path), "--route", "stdone_sink", "--overwrite", output="json"
    )
    assert as_json.exit_code == 1
    assert [item["key"] for item in json.loads(as_json.stdout)["failures"]] == [blocked]


def test_download_errors(ff: Cli, tmp_path: Path) -> None:
    assert ff("storage", "download", "no-such-tag", "-d", str(tmp_path)).exit_code == 7
    assert ff("storage", "download", "x", "-d", str(tmp_path), "--concurrency", "33").exit_code == 2
    assert ff("storage", "download", "x").exit_code == 2  # --output-dir is required


def test_download_shows_a_progress_bar_on_a_terminal_stderr(ff: Cli, done: dict[str, Any], tmp_path: Path) -> None:
    master, slave = os.openpty()
    try:
        result = subprocess.run(
            [FACTFLOW, "--server", ff.server.base_url, "storage", "download", done["id"], "-d", str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=slave,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
            check=False,
            timeout=60,
        )
        os.close(slave)
        terminal = b""
        while select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            terminal += chunk
    finally:
        os.close(master)
    assert result.returncode == 0
    assert b"downloading" in terminal and b"12/12" in terminal
    assert json.loads(result.stdout)["downloaded"] == 12  # stdout stays the report alone
