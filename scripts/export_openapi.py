"""Write the server's OpenAPI document, the source of the web console's typed API client.

Usage: `python scripts/export_openapi.py [OUT]` (default `frontend/openapi.json`); `--check`
exits 1 when OUT differs from the current document instead of writing it.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from factflow_server import create_app
from factflow_server.testing import embedded_settings


def render() -> str:
    """The OpenAPI document as stable, sorted JSON text."""
    with tempfile.TemporaryDirectory(prefix="factflow-openapi-") as data_dir:
        app = create_app(embedded_settings(Path(data_dir)), embedded=True)
        return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Write (or with `--check`, compare) the document; returns the exit code."""
    check = "--check" in argv
    paths = [arg for arg in argv if arg != "--check"]
    out = Path(paths[0] if paths else "frontend/openapi.json")
    text = render()
    if check:
        if not out.is_file() or out.read_text(encoding="utf-8") != text:
            print(f"{out} is out of date: run `make frontend` and commit the result", file=sys.stderr)
            return 1
        return 0
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
