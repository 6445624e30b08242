"""`factflow adapter list|show` against a live server, and `adapter new` scaffolding a working package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Cli

FACTFLOW = str(Path(sys.executable).with_name("factflow"))
BUILTINS = ["delay", "fail", "filter", "passthrough", "set_fields", "split"]


def test_list(ff: Cli) -> None:
    body = ff.json("adapter", "list")
    types = [info["type"] for info in body["adapters"]]
    assert types == sorted(types) and set(BUILTINS) <= set(types)
    rows = ff.table_rows(ff.table("adapter", "list").stdout, ["TYPE", "PACKAGE", "VERSION", "DESCRIPTION"])
    split = next(row for row in rows if row["TYPE"] == "split")
    assert (split["PACKAGE"], split["VERSION"]) == ("factflow-builtins", "0.1.0")
    assert split["DESCRIPTION"].startswith("Emits one message per element of a list")


def test_show_config_schema(ff: Cli) -> None:
    info = ff.json("adapter", "show", "split")
    assert (info["type"], info["class_path"]) == ("split", "factflow_builtins.split:SplitAdapter")
    text = ff.table("adapter", "show", "split").stdout
    assert "CLASS        factflow_builtins.split:SplitAdapter" in text
    rows = ff.table_rows(text, ["FIELD", "TYPE", "DEFAULT", "REQUIRED", "DESCRIPTION"])
    assert [(row["FIELD"], row["TYPE"], row["DEFAULT"], row["REQUIRED"]) for row in rows] == [
        ("field", "string", "", "yes"),
        ("item_field", "string", '"item"', "no"),
        ("keep_fields", "array[string]", "", "no"),
    ]
    assert rows[0]["DESCRIPTION"].startswith("Dotted path of the list to split")
    assert ff.table("adapter", "show", "passthrough").stdout.rstrip().endswith("This adapter takes no config.")


def test_show_unknown_exits_7_with_candidates(ff: Cli) -> None:
    result = ff("adapter", "show", "splitt", output="table")
    assert (result.exit_code, result.stdout) == (7, "")
    assert "[adapter_not_found, status 404" in result.stderr
    assert "  candidates: split" in result.stderr


def test_new_scaffolds_a_package_and_refuses_to_overwrite(ff: Cli, tmp_path: Path) -> None:
    created = ff.json("adapter", "new", "word_shout", "--dir", str(tmp_path))
    root = tmp_path / "factflow-word_shout"
    assert created == {
        "name": "word_shout",
        "path": str(root),
        "files": [
            "README.md",
            "pyproject.toml",
            "src/factflow_word_shout/__init__.py",
            "src/factflow_word_shout/adapter.py",
            "src/factflow_word_shout/py.typed",
            "tests/test_adapter.py",
        ],
    }
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["factflow.adapters"] == {
        "word_shout": "factflow_word_shout.adapter:WordShoutAdapter"
    }
    before = (root / "README.md").read_text()
    again = ff("adapter", "new", "word_shout", "--dir", str(tmp_path), output="table")
    assert again.exit_code == 1
    assert "already exists" in again.stderr
    assert (root / "README.md").read_text() == before
    assert ff("adapter", "new", "Bad-Name", "--dir", str(tmp_path)).exit_code == 2
    table = ff.table("adapter", "new", "other_one", "--dir", str(tmp_path)).stdout
    assert table.startswith(f"Created {tmp_path / 'factflow-other_one'}:\n")


def test_new_package_tests_pass_and_its_entry_point_is_discovered(ff: Cli, tmp_path: Path) -> None:
    ff.json("adapter", "new", "shouter", "--dir", str(tmp_path))
    root = tmp_path / "factflow-shouter"
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "NO_COLOR": "1"}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout

    # Make the package's entry point visible as an installed distribution would (dist-info on
    # sys.path, written from the generated pyproject), then let `factflow config validate` find it.
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    site = tmp_path / "site"
    dist_info = site / "factflow_shouter-0.1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    entry_points = project["entry-points"]["factflow.adapters"]
    (dist_info / "entry_points.txt").write_text(
        "[factflow.adapters]\n" + "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    )
    pipeline = tmp_path / "pipe.yaml"
    pipeline.write_text(
        'version: "1.0"\nroutes:\n  r:\n    inbound: {queue: q}\n    adapters:\n'
        "      - {type: shouter, config: {field: title, output_filed: loud}}\n"
        "init_message: {route: r, payload: {title: hi}}\n"
    )
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(root / "src")])
    result = subprocess.run(
        [FACTFLOW, "config", "validate", str(pipeline)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    issues = json.loads(result.stdout)["files"][0]["issues"]
    assert [(issue["code"], issue["path"]) for issue in issues] == [
        ("E301", "routes.r.adapters[0].config.output_filed")
    ]
    assert "Did you mean 'output_field'?" in issues[0]["suggestion"]
