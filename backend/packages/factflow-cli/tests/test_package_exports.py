from __future__ import annotations

import factflow_cli


def test_public_surface_is_pinned() -> None:
    assert set(factflow_cli.__all__) == {"ExitCode", "CliError", "ApiError"}
