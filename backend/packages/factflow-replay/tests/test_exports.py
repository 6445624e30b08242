from __future__ import annotations

import factflow_replay

# runtime.md §7 "Exports".
SPEC_EXPORTS = {
    "ReplayService",
    "ReplayRequest",
    "ReplayResult",
    "RouteResolver",
    "ResolvedRoute",
    "ReplayPublisher",
    "RecoveryManager",
    "RecoveryReport",
    "ReplayError",
    "ReplaySourceMissingError",
    "ReplayStageNotFoundError",
    "ReplayRouteNotFoundError",
    "AmbiguousStageError",
    "NothingToReplayError",
}

EXTRAS = {
    "compose_runtime",
    "RuntimeServices",
    "ReplayTarget",
    "ReplayMode",
    "ReplayProgress",
    "RecoveryRecord",
    "RecoveryMode",
    "Reinjector",
    "ReinjectionResult",
    "LineageRepair",
}


def test_all_is_the_spec_surface_plus_documented_extras() -> None:
    assert set(factflow_replay.__all__) == SPEC_EXPORTS | EXTRAS
    assert len(factflow_replay.__all__) == len(set(factflow_replay.__all__))
    for name in factflow_replay.__all__:
        assert getattr(factflow_replay, name) is not None


def test_error_codes_are_the_api_codes() -> None:
    assert factflow_replay.ReplaySourceMissingError("x").code == "replay_source_empty"
    assert factflow_replay.ReplayStageNotFoundError("x").code == "unknown_stage"
    assert factflow_replay.ReplayRouteNotFoundError("x").code == "unknown_route"
    assert factflow_replay.NothingToReplayError("x").code == "nothing_to_replay"
    ambiguous = factflow_replay.AmbiguousStageError("x", candidates=["a", "b"])
    assert ambiguous.code == "ambiguous_stage"
    assert ambiguous.context["candidates"] == ["a", "b"]


def test_replay_service_is_a_replay_coordinator() -> None:
    from factflow_execution import ReplayCoordinator

    assert issubclass(factflow_replay.ReplayService, ReplayCoordinator)
