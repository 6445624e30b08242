"""The server answers deep links for exactly the console's client-side views."""

from __future__ import annotations

import re

from factflow_server._console import CONSOLE_VIEWS

from .conftest import REPO_ROOT


def test_every_console_route_is_a_view_the_server_serves() -> None:
    app = (REPO_ROOT / "frontend" / "src" / "App.tsx").read_text(encoding="utf-8")
    paths = re.findall(r'<Route path="([^"]+)"', app)
    segments = {path.strip("/").split("/")[0] for path in paths} - {"", "*"}
    assert segments == CONSOLE_VIEWS
