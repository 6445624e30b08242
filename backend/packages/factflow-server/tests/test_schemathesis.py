"""The whole HTTP API fuzzed from its own OpenAPI document with schemathesis.

Every operation gets valid (positive) and invalid (negative) requests, and its documented example
when it has one; a stateful run follows the document's links (create config → run → execution →
lineage) so ids name real objects. Any 5xx, an answer outside the documented statuses or a body
that breaks its schema fails the test.

Runs are derandomized: a failure reproduces on every run (and prints the request to replay).
Event streams are asked for `keep_open=false`: a valid live stream legitimately stays open.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.examples import get_strategies_from_examples

from factflow_server import create_app
from factflow_server._params import MAX_OFFSET
from factflow_server.schemas._configs import EXAMPLE_YAML
from factflow_server.testing import (
    RunningServer,
    assert_error,
    embedded_settings,
    run_config,
    serve_in_thread,
    store_config,
    wait_execution,
)

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
SSE_PATHS = frozenset(
    {"/api/v1/executions/{ref}/events", "/api/v1/executions/{ref}/storage-stream", "/api/v1/storage/events"}
)
REQUEST_TIMEOUT_SECONDS = 30.0
FUZZ_SETTINGS = settings(
    max_examples=8,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)

with tempfile.TemporaryDirectory() as _scratch:
    DOCUMENT = create_app(embedded_settings(Path(_scratch))).openapi()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
AnyCase = schemathesis.Case[Any]
OPERATIONS = {
    operation.label: operation
    for operation in (result.ok() for result in SCHEMA.get_all_operations() if isinstance(result, Ok))
}


def _bounded(case: AnyCase) -> AnyCase:
    """The case with any event stream asked to end once caught up (a live stream would only time out)."""
    if case.path in SSE_PATHS:
        case.query = {**(case.query or {}), "keep_open": "false"}
    return case


CASES = [
    pytest.param(label, mode, id=f"{label}-{mode.value}")
    for label, operation in sorted(OPERATIONS.items())
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    # Invalid input needs an input: an operation without parameters or body has no negative case.
    if mode is GenerationMode.POSITIVE
    or {"parameters", "requestBody"} & set(DOCUMENT["paths"][operation.path][operation.method])
]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, demo_yaml: str) -> Iterator[RunningServer]:
    with serve_in_thread(embedded_settings(tmp_path_factory.mktemp("fuzz"))) as running:
        # A finished execution with lineage and stored objects, so list answers have real ids.
        with running.client() as client:
            config_id = store_config(client, demo_yaml)
            run_config(client, config_id, tag="fuzz-seed")
            wait_execution(client, "fuzz-seed")
        yield running


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_operation_never_fails_on_any_input(label: str, mode: GenerationMode, fuzz_server: RunningServer) -> None:
    operation = OPERATIONS[label]

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: AnyCase) -> None:
        _bounded(case).call_and_validate(base_url=fuzz_server.base_url, checks=CHECKS, timeout=REQUEST_TIMEOUT_SECONDS)

    try:
        check()
    except Unsatisfiable:
        # Only a free-form string parameter: every value is valid, so there is no invalid request.
        if mode is GenerationMode.POSITIVE:
            raise
        pytest.skip("no invalid request exists for this operation")


EXAMPLES = {
    label: strategies
    for label, operation in sorted(OPERATIONS.items())
    if (strategies := get_strategies_from_examples(operation))
}


def test_the_documented_example_pipeline_runs(fuzz_server: RunningServer) -> None:
    with fuzz_server.client() as client:
        report = client.post("/api/v1/configs/validate", json={"config_yaml": EXAMPLE_YAML}).json()
        assert report["is_valid"] and report["warning_count"] == 0, report
        execution = run_config(client, store_config(client, EXAMPLE_YAML))
        assert wait_execution(client, execution["id"])["status"] == "completed"


@pytest.mark.parametrize("label", sorted(EXAMPLES))
def test_documented_examples_are_answered(label: str, fuzz_server: RunningServer) -> None:
    assert len(EXAMPLES) >= 6  # request bodies documented with an example
    for strategy in EXAMPLES[label]:

        @FUZZ_SETTINGS
        @given(case=strategy)
        def check(case: AnyCase) -> None:
            _bounded(case).call_and_validate(
                base_url=fuzz_server.base_url, checks=CHECKS, timeout=REQUEST_TIMEOUT_SECONDS
            )

        check()


def test_linked_sequences_never_fail(tmp_path: Path) -> None:
    base = SCHEMA.as_state_machine()
    counter = itertools.count()

    class Machine(base):  # type: ignore[misc,valid-type]  # schemathesis builds the class at run time
        # Each scenario gets a server of its own: the next step depends on earlier answers, and
        # a scenario replayed on a server other scenarios changed (a tag now taken) would differ.
        def setup(self) -> None:
            self.stack = contextlib.ExitStack()
            settings = embedded_settings(tmp_path / f"scenario-{next(counter)}")
            self.server = self.stack.enter_context(serve_in_thread(settings))

        def teardown(self) -> None:
            self.stack.close()

        def get_call_kwargs(self, case: AnyCase) -> dict[str, Any]:
            _bounded(case)
            return {"base_url": self.server.base_url, "timeout": REQUEST_TIMEOUT_SECONDS}

        def validate_response(self, response: schemathesis.Response, case: AnyCase, *args: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=8,
            stateful_step_count=5,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


HUGE = "12495392328646800703488"
PAGED_PATHS = (
    "/api/v1/configs",
    "/api/v1/executions",
    "/api/v1/executions/fuzz-seed/lineage",
    "/api/v1/executions/fuzz-seed/replays",
    "/api/v1/storage/objects",
    "/api/v1/lineage",
    "/api/v1/lineage/failures",
)


@pytest.mark.parametrize("path", PAGED_PATHS)
def test_paging_numbers_past_their_bounds_are_422(path: str, fuzz_server: RunningServer) -> None:
    with fuzz_server.client() as client:
        for params in ({"offset": HUGE}, {"offset": str(MAX_OFFSET + 1)}, {"offset": "-1"}, {"limit": HUGE}):
            assert_error(client.get(path, params=params), 422, "request_validation_error")
        last = client.get(path, params={"offset": str(MAX_OFFSET)})
        assert last.status_code == 200, last.text
        assert last.json()["offset"] == MAX_OFFSET
        assert last.json()["has_more"] is False


@pytest.mark.parametrize("path", ["/api/v1/executions", "/api/v1/lineage", "/api/v1/lineage/failures"])
def test_timestamps_past_the_utc_range_are_422(path: str, fuzz_server: RunningServer) -> None:
    with fuzz_server.client() as client:
        for moment in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):
            assert_error(client.get(path, params={"started_after": moment}), 422, "request_validation_error")
        assert client.get(path, params={"started_after": "9999-12-31T23:59:59Z"}).status_code == 200
