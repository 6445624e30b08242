from __future__ import annotations

import factflow_server


def test_public_surface_is_pinned() -> None:
    assert set(factflow_server.__all__) == {
        "create_app",
        "ServiceContainer",
        "ServerRuntime",
        "run_server",
        "FactflowServer",
        "effective_settings",
        "MissingBackendsError",
        "SERVER_VERSION",
        "ApiError",
        "ErrorResponse",
        "SseEvent",
        "event_stream_response",
    }


def test_every_exported_name_imports() -> None:
    for name in factflow_server.__all__:
        assert getattr(factflow_server, name) is not None
