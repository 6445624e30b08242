from __future__ import annotations

import pytest
from pydantic import BaseModel

from factflow_protocols import AdapterResult, NonRetryableError, PipelineAdapter, PipelineContext


class UpperConfig(BaseModel):
    field: str = "text"


class UpperAdapter(PipelineAdapter):
    adapter_type = "upper"
    config_model = UpperConfig

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        assert isinstance(self.config, UpperConfig)
        value = context.message.get(self.config.field)
        if not isinstance(value, str):
            raise NonRetryableError(f"field {self.config.field!r} is not a string")
        return AdapterResult(message={**context.message, self.config.field: value.upper()})


async def test_adapter_runs_with_a_one_line_context() -> None:
    adapter = UpperAdapter(UpperConfig())
    await adapter.start()
    result = await adapter.process(PipelineContext(message={"text": "hi"}, correlation_id="m1"))
    await adapter.stop()
    assert result is not None
    assert result.message == {"text": "HI"}
    assert not result.is_empty


async def test_context_defaults_bind_paths_and_read_only_metadata() -> None:
    context = PipelineContext(message={}, correlation_id="m1")
    assert context.paths.artefact_key("a.bin").endswith("/_artefacts/" + context.paths.message_id + "/a.bin")
    assert context.attempt == 1
    assert context.delivery_count == 1
    with pytest.raises(TypeError):
        context.metadata["x"] = 1  # type: ignore[index]  # read-only mapping is the point of the test


async def test_non_retryable_error_is_raised_for_bad_input() -> None:
    with pytest.raises(NonRetryableError, match="'text' is not a string"):
        await UpperAdapter(UpperConfig()).process(PipelineContext(message={"text": 1}, correlation_id="m"))


def test_empty_result_ends_the_chain_and_batch_id_must_be_a_uuid() -> None:
    assert AdapterResult().is_empty
    assert not AdapterResult(emitted=[{"a": 1}]).is_empty
    with pytest.raises(ValueError):
        AdapterResult(batch_id="not-a-uuid")
