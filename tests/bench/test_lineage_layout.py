"""The lineage layout measurement (`make bench-layout`) runs on PostgreSQL and reports every candidate."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from factflow_infra.testing import postgres_test_schema

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = (
    "today",
    "compact",
    "compact_aligned",
    "compact_hash",
    "compact_stages",
    "compact_stages_btree",
    "stage_key_only",
    "proposed",
    "shipped",
    "lean",
)


@pytest.mark.postgres
@pytest.mark.parametrize("flags", [(), ("--ordered-ids",)], ids=["md5-ids", "ordered-ids"])
async def test_every_candidate_layout_is_measured(flags: tuple[str, ...]) -> None:
    async with postgres_test_schema() as url:  # skips without PostgreSQL (fails with CI=true)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.lineage_layout",
            "--rows",
            "2000",
            "--postgres-url",
            url,
            *flags,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        async with asyncio.timeout(120):
            output, _ = await process.communicate()
    text = output.decode()
    assert process.returncode == 0, text

    per_row = {
        match["name"]: float(match["bytes"])
        for match in re.finditer(r"^(?P<name>\w+)\s+(?P<bytes>[\d.]+) B/row", text, re.MULTILINE)
    }
    assert tuple(per_row) == CANDIDATES
    assert all(value > 0 for value in per_row.values())
    assert per_row["compact"] < per_row["today"]
    assert per_row["shipped"] < per_row["today"]
