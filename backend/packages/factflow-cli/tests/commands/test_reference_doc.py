"""docs/reference/cli.md works as written: its ```bash blocks run, in order, as one script against a live server.

`factflow` in the script is the real CLI; a fork server (`cli_forkserver.py`) runs each call in
a forked child of an interpreter that imported the CLI once, with the caller's arguments,
working directory, environment, stdin, stdout and stderr, so ~90 commands take seconds, not
a minute of interpreter start-ups.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Cli

REPO = Path(__file__).resolve().parents[5]
DOC = REPO / "docs" / "reference" / "cli.md"
FORKSERVER = Path(__file__).with_name("cli_forkserver.py")
BLOCK = re.compile(r"^```bash\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@pytest.fixture
def factflow_bin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory with a `factflow` executable served by the fork server."""
    bin_dir = tmp_path_factory.mktemp("bin")
    socket_path = bin_dir / "cli.sock"
    server = subprocess.Popen(
        [sys.executable, str(FORKSERVER), str(socket_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline() == "ready\n", server.stderr.read() if server.stderr else ""
        wrapper = bin_dir / "factflow"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -I "{FORKSERVER}" --client "{socket_path}" "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
        yield bin_dir
    finally:
        server.kill()
        server.communicate(timeout=30)


def test_the_wrapper_behaves_like_the_console_script(factflow_bin: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        "echo 'version: [' | factflow config validate - ; echo \"exit $?\"; factflow --version",
        shell=True,
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{factflow_bin}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.splitlines()[-2:] == ["exit 2", "factflow 0.1.0"]
    assert json_error(result.stderr) == "'-' does not exist"


def json_error(text: str) -> str:
    import json

    return str(json.loads(text)["error"]["detail"])


def test_every_bash_block_of_the_cli_reference_runs(ff: Cli, factflow_bin: Path, tmp_path: Path) -> None:
    blocks = BLOCK.findall(DOC.read_text())
    assert len(blocks) > 30
    script = "set -euo pipefail\n" + "\n".join(blocks)
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(factflow_bin), venv_bin, os.environ.get("PATH", "")]),
        "FACTFLOW_SERVER_URL": ff.server.base_url,
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    env.pop("FACTFLOW_API_TOKEN", None)
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    # The documented failures really fail as described.
    for code in ("exit 1", "exit 5", "exit 7"):
        assert code in result.stdout
