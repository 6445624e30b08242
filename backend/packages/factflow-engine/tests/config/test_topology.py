"""The route graph: E202 and the warnings W501–W504."""

from __future__ import annotations

import pytest

from factflow_engine.config import PipelineConfigLoader, ValidationReport


def pipeline(routes: dict[str, tuple[str, list[str]]], init: str | None = "a", extra: str = "") -> str:
    """`routes`: id → (inbound queue, outbound queues)."""
    lines = ['version: "1.0"', "routes:"]
    for route_id, (inbound, outbound) in routes.items():
        lines += [f"  {route_id}:", f"    inbound: {{queue: '{inbound}'}}", "    adapters: [{type: passthrough}]"]
        if outbound:
            lines.append("    outbound: [" + ", ".join(f"{{queue: '{queue}'}}" for queue in outbound) + "]")
    if init is not None:
        lines.append(f"init_message: {{route: {init}}}")
    return "\n".join(lines) + "\n" + extra


def found(report: ValidationReport) -> list[tuple[str, str]]:
    return [(issue.code, issue.path) for issue in report.issues]


def test_linear_dag_is_clean(loader: PipelineConfigLoader) -> None:
    text = pipeline({"a": ("qa", ["qb"]), "b": ("qb", ["qc", "qd"]), "c": ("qc", []), "d": ("/queue/qd", [])})
    assert loader.validate(text).issues == ()


def test_shared_inbound_reported_at_each_later_route(loader: PipelineConfigLoader) -> None:
    text = pipeline({"a": ("q", []), "b": ("/queue/q", []), "c": ("q", [])})
    report = loader.validate(text)
    e202 = [issue for issue in report.issues if issue.code == "E202"]
    assert [issue.path for issue in e202] == ["routes.b.inbound.queue", "routes.c.inbound.queue"]
    assert e202[0].suggestion == "'q' is consumed by route 'a'; use another queue."


def test_unreachable_routes(loader: PipelineConfigLoader) -> None:
    text = pipeline({"a": ("qa", []), "b": ("qb", ["qb"]), "c": ("qc", [])})
    report = loader.validate(text)
    # b only feeds itself: still unreachable; it also loops (W504)
    assert found(report) == [("W501", "routes.b"), ("W504", "routes.b"), ("W501", "routes.c")]
    w501 = report.issues[0]
    assert w501.suggestion == (
        "'b' receives nothing; add its queue to a producer's outbound (ignore if it is a replay target)."
    )


def test_unconsumed_outbound(loader: PipelineConfigLoader) -> None:
    report = loader.validate(pipeline({"a": ("qa", ["archive", "qb"]), "b": ("qb", [])}))
    assert found(report) == [("W502", "routes.a.outbound[0].queue")]
    assert report.issues[0].suggestion == "Nothing consumes 'archive'; its messages wait until cleanup."


def test_invalid_queues_suppress_dependent_warnings(loader: PipelineConfigLoader) -> None:
    # b's inbound is invalid, so a's outbound might have been meant for it: no W502
    report = loader.validate(pipeline({"a": ("qa", ["qb"]), "b": ("/topic/qb", [])}))
    assert found(report) == [("E203", "routes.b.inbound.queue")]
    # a's outbound is invalid, so b might have been fed by it: no W501
    report = loader.validate(pipeline({"a": ("qa", ["bad name"]), "b": ("qb", [])}))
    assert found(report) == [("E201", "routes.a.outbound[0].queue")]


def test_no_init_message(loader: PipelineConfigLoader) -> None:
    report = loader.validate(pipeline({"a": ("qa", ["qb"]), "b": ("qb", [])}, init=None))
    assert found(report) == [("W503", ""), ("W501", "routes.a")]
    assert report.is_valid


def test_cycles_are_reported_once_at_their_first_route(loader: PipelineConfigLoader) -> None:
    text = pipeline(
        {
            "a": ("qa", ["qb"]),
            "b": ("qb", ["qc"]),
            "c": ("qc", ["qb", "qd"]),
            "d": ("qd", ["qe"]),
            "e": ("qe", ["qd"]),
        },
        extra="orchestrator: {max_hops: 10}\n",
    )
    report = loader.validate(text)
    assert found(report) == [("W504", "routes.b"), ("W504", "routes.d")]
    assert report.issues[0].suggestion == "b → c → b loops; orchestrator.max_hops caps it at 10."
    assert report.issues[1].message == "Routes d → e → d form a cycle."


def test_longer_cycle_message(loader: PipelineConfigLoader) -> None:
    text = pipeline({"a": ("qa", ["qb"]), "b": ("qb", ["qc"]), "c": ("qc", ["qa"])})
    (issue,) = loader.validate(text).issues
    assert (issue.code, issue.path) == ("W504", "routes.a")
    assert issue.suggestion == "a → b → c → a loops; orchestrator.max_hops caps it at 64."


@pytest.mark.parametrize("count", [2, 60])
def test_long_chains_and_rings(loader: PipelineConfigLoader, count: int) -> None:
    ring = {f"r{i}": (f"q{i}", [f"q{(i + 1) % count}"]) for i in range(count)}
    report = loader.validate(pipeline(ring, init="r0"))
    assert found(report) == [("W504", "routes.r0")]
