from __future__ import annotations

import ast
import subprocess
import sys

import factflow_lineage
import factflow_protocols

SPEC_EXPORTS = {
    "LineageRecorder",
    "LineageService",
    "LineageRepository",
    "PipelineLineageEntry",
    "LineageRow",
    "LineageStageRow",
    "StageStatus",
    "LineageStats",
}


def test_public_surface_is_pinned() -> None:
    assert set(factflow_lineage.__all__) == SPEC_EXPORTS | {
        "LineageRouteRow",
        "LineageSortField",
        "SortOrder",
        "LineageMessage",
        "MessageStatus",
        "LineageChain",
        "LineageBatch",
        "BatchKind",
        "AdapterStats",
        "StageCounts",
        "RouteMessageCounts",
    }
    assert len(factflow_lineage.__all__) == len(set(factflow_lineage.__all__))


def test_every_exported_name_imports() -> None:
    for name in factflow_lineage.__all__:
        assert getattr(factflow_lineage, name) is not None


def test_row_states_are_the_protocols_ones() -> None:
    # One copy: the engine reports rows with factflow-protocols' types, and this package stores them.
    assert factflow_lineage.LineageService is factflow_protocols.LineageService
    assert factflow_lineage.StageStatus is factflow_protocols.StageStatus


def test_importing_lineage_loads_nothing_above_it() -> None:
    probe = (
        "import sys, factflow_lineage; "
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('factflow_')}))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    # foundation and protocols <- infra <- lineage: nothing of the engine or above.
    assert set(ast.literal_eval(loaded)) <= {
        "factflow_foundation",
        "factflow_protocols",
        "factflow_infra",
        "factflow_lineage",
    }
