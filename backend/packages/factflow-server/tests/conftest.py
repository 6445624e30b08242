from __future__ import annotations

from factflow_server.testing import factflow_server, factflow_server_factory

__all__ = ("factflow_server", "factflow_server_factory")
