from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from factflow_embeddings import (
    EmbeddingGeneratorAdapter,
    EmbeddingGeneratorConfig,
    EmbeddingServiceError,
    OpenAIOptions,
    OpenAIProvider,
    hashing_vector,
    retry_after_seconds,
)
from factflow_engine.testing import run_adapter
from factflow_foundation import FactflowError
from factflow_protocols import NonRetryableError, PipelineContext

# A small real HTTP server speaking OpenAI's `POST /v1/embeddings`, with scripted failures.

DIMENSIONS = 16


@dataclass
class Recorded:
    inputs: list[str]
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeOpenAI:
    """Answers with hashing vectors; `script` holds `(status, headers)` answers given before the normal ones."""

    base_url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(state: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # the stdlib's name
            return

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/v1/embeddings":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            with state.lock:
                state.requests.append(Recorded(inputs, {k.lower(): v for k, v in self.headers.items()}, body))
                scripted = state.script.pop(0) if state.script else None
            if scripted is not None:
                status, headers = scripted
                self._send(status, {"error": {"message": f"scripted {status}"}}, headers)
                return
            if body.get("model") == "unknown-model":
                self._send(404, {"error": {"message": "model not found"}})
                return
            dimensions = int(body.get("dimensions") or DIMENSIONS)
            data = [
                {"object": "embedding", "index": index, "embedding": hashing_vector(text, dimensions=dimensions)}
                for index, text in enumerate(inputs)
            ]
            data.reverse()  # the API does not promise order; clients must sort by index
            self._send(200, {"object": "list", "data": data, "model": body["model"], "usage": {}})

    return Handler


@contextmanager
def fake_openai_server() -> Iterator[FakeOpenAI]:
    state = FakeOpenAI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
    )
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with fake_openai_server() as state:
        yield state


def _config(server: FakeOpenAI, **options: Any) -> dict[str, Any]:
    openai = {"base_url": server.base_url, "model": "text-embedding-3-small", "retry_backoff_seconds": 0, **options}
    return {"provider": "openai", "openai": openai}


async def test_segment_becomes_an_embedding_with_its_model_and_hash(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_EMBEDDINGS_KEY", "sk-test-123")
    payload = {"document_id": "doc_1", "segment": {"index": 2, "text": "Queues carry messages."}}
    result = await run_adapter("embedding_generator", payload, config=_config(server, api_key_env="MY_EMBEDDINGS_KEY"))
    assert result is not None and result.message is not None
    message = result.message
    assert message["embedding"] == pytest.approx(hashing_vector("Queues carry messages.", dimensions=DIMENSIONS))
    assert message["embedding_model"] == "text-embedding-3-small"
    assert message["embedding_dimensions"] == DIMENSIONS
    assert message["text_hash"].startswith("sha256:") and message["document_id"] == "doc_1"
    assert result.storage_metadata == {
        "embedding_model": "text-embedding-3-small",
        "embedding_slot": "default",
        "embedding_dimensions": DIMENSIONS,
        "embedding_count": 1,
        "text_hash": message["text_hash"],
    }
    (request,) = server.requests
    assert request.headers["authorization"] == "Bearer sk-test-123"
    assert request.body["encoding_format"] == "float"


async def test_key_from_settings_and_azure_header(server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTFLOW_EMBEDDINGS_OPENAI_API_KEY", "from-settings")
    monkeypatch.setenv("FACTFLOW_EMBEDDINGS_OPENAI_BASE_URL", server.base_url)
    config = {"provider": "openai", "openai": {"api_key_header": "api-key", "dimensions": 8}}
    result = await run_adapter("embedding_generator", {"text": "hello"}, config=config)
    assert result is not None and result.message is not None and result.message["embedding_dimensions"] == 8
    assert server.requests[0].headers["api-key"] == "from-settings"
    assert "authorization" not in server.requests[0].headers


async def test_missing_key_variable_is_a_clear_error(server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(NonRetryableError, match=r"\$NOT_SET_ANYWHERE"):
        await run_adapter("embedding_generator", {"text": "x"}, config=_config(server, api_key_env="NOT_SET_ANYWHERE"))


async def test_429_with_retry_after_and_a_500_are_retried(server: FakeOpenAI) -> None:
    server.script = [(429, {"Retry-After": "0"}), (500, {})]
    result = await run_adapter("embedding_generator", {"text": "retry me"}, config=_config(server))
    assert result is not None and result.message is not None
    assert result.message["embedding"] == pytest.approx(hashing_vector("retry me", dimensions=DIMENSIONS))
    assert [request.inputs for request in server.requests] == [["retry me"]] * 3


async def test_retries_run_out_into_a_retryable_failure(server: FakeOpenAI) -> None:
    server.script = [(503, {})] * 3
    provider = OpenAIProvider(
        OpenAIOptions(max_retries=2, retry_backoff_seconds=0), base_url=server.base_url, api_key=None
    )
    try:
        with pytest.raises(EmbeddingServiceError, match="failed 3 times; last: HTTP 503"):
            await provider.embed(["x"])
    finally:
        await provider.close()
    assert provider.requests == 3
    assert isinstance(EmbeddingServiceError("x"), FactflowError)
    assert not isinstance(EmbeddingServiceError("x"), NonRetryableError)  # the route retries it


async def test_client_errors_are_not_retried(server: FakeOpenAI) -> None:
    with pytest.raises(NonRetryableError, match="answered 404"):
        await run_adapter("embedding_generator", {"text": "x"}, config=_config(server, model="unknown-model"))
    assert len(server.requests) == 1


def test_retry_after_header_forms() -> None:
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds("0.5") == 0.5
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_the_key_never_shows_in_config_or_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    config = EmbeddingGeneratorConfig.model_validate({"provider": "openai", "openai": {"api_key_env": "K"}})
    assert "api_key_env" in config.model_dump_json()
    provider = OpenAIProvider(OpenAIOptions(), base_url="http://x/v1", api_key="sk-secret")
    assert "sk-secret" not in repr(provider)


@pytest.mark.parametrize(("messages", "batch_size"), [(50, 16), (7, 32), (64, 8)])
async def test_concurrent_messages_share_few_requests(server: FakeOpenAI, messages: int, batch_size: int) -> None:
    config = EmbeddingGeneratorConfig.model_validate({**_config(server), "batch_size": batch_size, "batch_wait_ms": 50})
    adapter = EmbeddingGeneratorAdapter(config)
    await adapter.start()
    try:
        texts = [f"segment number {index}" for index in range(messages)]
        results = await asyncio.gather(
            *(
                adapter.process(PipelineContext(message={"text": text}, correlation_id=f"m{i}"))
                for i, text in enumerate(texts)
            )
        )
    finally:
        await adapter.stop()
    assert len(server.requests) <= math.ceil(messages / batch_size) + 1
    assert max(len(request.inputs) for request in server.requests) <= batch_size
    assert sorted(text for request in server.requests for text in request.inputs) == sorted(texts)
    for text, result in zip(texts, results, strict=True):
        assert result is not None and result.message is not None
        assert result.message["embedding"] == pytest.approx(hashing_vector(text, dimensions=DIMENSIONS))
    # Messages embedded by one request share its lineage batch id.
    batch_ids = {result.batch_id for result in results if result is not None}
    assert len(batch_ids) == len(server.requests)
