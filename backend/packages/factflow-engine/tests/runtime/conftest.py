from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from factflow_engine.testing import PipelineHarness


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[PipelineHarness]:
    async with PipelineHarness(workdir=tmp_path) as running:
        yield running
