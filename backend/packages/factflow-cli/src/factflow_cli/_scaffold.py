"""`adapter new`: a ready-to-install adapter package (docs/reference/cli.md, docs/guides/writing-adapters.md).

The package has a `factflow.adapters` entry point, a config model with attribute docstrings
(they become the config schema's descriptions), an adapter, tests on
`factflow_engine.testing.run_adapter` and a README. Nothing is overwritten.
"""

from __future__ import annotations

import re
from pathlib import Path

from ._errors import CliError
from ._exit_codes import ExitCode

__all__ = ("ADAPTER_NAME", "class_prefix", "scaffold")

ADAPTER_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
"""Adapter type names the registry accepts."""


def class_prefix(name: str) -> str:
    """`word_count` → `WordCount`."""
    return "".join(part.capitalize() for part in name.split("_") if part)


_PYPROJECT = """\
[project]
name = "factflow-{name}"
version = "0.1.0"
description = "The `{name}` factflow adapter."
readme = "README.md"
requires-python = ">=3.11"
dependencies = [
    "factflow-protocols",
    "pydantic>=2.9",
]

[project.optional-dependencies]
test = [
    "factflow-engine[testing]",
    "pytest>=8.3",
    "pytest-asyncio>=0.25",
]

# The entry-point name is the YAML `type:`; factflow finds the adapter through this group.
[project.entry-points."factflow.adapters"]
{name} = "factflow_{name}.adapter:{cls}Adapter"

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/factflow_{name}"]

[tool.pytest.ini_options]
addopts = ["--import-mode=importlib"]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
filterwarnings = ["error"]
"""

_INIT = '''\
"""The `{name}` factflow adapter."""

from __future__ import annotations

from .adapter import {cls}Adapter, {cls}Config

__all__ = ("{cls}Adapter", "{cls}Config")
'''

_ADAPTER = '''\
"""`{name}`: writes an upper-cased copy of a text field into the payload."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from factflow_protocols import AdapterResult, NonRetryableError, PipelineAdapter, PipelineContext

__all__ = ("{cls}Adapter", "{cls}Config")


class {cls}Config(BaseModel):
    """Options of the `{name}` adapter (the `config:` mapping in the pipeline YAML)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    field: str = Field(default="text", min_length=1)
    """Payload key holding the input text."""
    output_field: str = Field(default="{name}", min_length=1)
    """Payload key the result is written to."""


class {cls}Adapter(PipelineAdapter):
    """Writes an upper-cased copy of a text field into the payload."""

    adapter_type = "{name}"
    config_model = {cls}Config

    def __init__(self, config: BaseModel | None = None) -> None:
        super().__init__(config)
        # The registry passes a validated {cls}Config; None means every default.
        self.options = config if isinstance(config, {cls}Config) else {cls}Config()

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        value = context.message.get(self.options.field)
        if not isinstance(value, str):
            # Retrying cannot fix the input: dead-letter it at once.
            raise NonRetryableError(f"`{name}` needs a string at {{self.options.field!r}}.")
        return AdapterResult(message={{**context.message, self.options.output_field: value.upper()}})
'''

_TESTS = '''\
"""Tests of the `{name}` adapter, run the way a route runs it (`factflow_engine.testing.run_adapter`)."""

from __future__ import annotations

import pytest

{test_imports}


async def test_writes_the_result_next_to_the_input() -> None:
    result = await run_adapter({cls}Adapter, {{"text": "hello", "id": 7}})
    assert result is not None
    assert result.message == {{"text": "hello", "id": 7, "{name}": "HELLO"}}


async def test_config_selects_the_fields() -> None:
    result = await run_adapter({cls}Adapter, {{"title": "abc"}}, config={{"field": "title", "output_field": "loud"}})
    assert result is not None
    assert result.message == {{"title": "abc", "loud": "ABC"}}


async def test_missing_text_is_not_retried() -> None:
    with pytest.raises(NonRetryableError):
        await run_adapter({cls}Adapter, {{"other": 1}})
'''

_README = """\
# factflow-{name}

A factflow adapter package: the adapter type `{name}` (`factflow_{name}.adapter:{cls}Adapter`),
registered through the `factflow.adapters` entry point in `pyproject.toml`.

## Use it in a pipeline

```yaml
adapters:
  - type: {name}
    config: {{field: text, output_field: {name}}}
```

| Option | Default | Meaning |
|---|---|---|
| `field` | `text` | Payload key holding the input text |
| `output_field` | `{name}` | Payload key the result is written to |

## Develop

```
pip install -e '.[test]'       # next to factflow, in the same environment
pytest                         # runs tests/ with factflow_engine.testing
factflow adapter test .        # contract checks, then the tests: run it before publishing
factflow adapter list          # on a server with this package installed: `{name}` is listed
```

Install it where the factflow server and CLI run; `factflow config validate` then checks
`{name}` configs against `{cls}Config`.
"""


def scaffold(name: str, directory: Path) -> Path:
    """Create `directory/factflow-<name>/` and return it.

    Raises:
        CliError: exit 2 for a name the registry would refuse; exit 1 when the package
            directory already exists (nothing is overwritten).
    """
    if not ADAPTER_NAME.match(name):
        raise CliError(
            f"{name!r} is not a valid adapter type; use 2–64 characters: a lower-case letter, "
            "then lower-case letters, digits or `_`",
            exit_code=ExitCode.USAGE,
        )
    root = directory / f"factflow-{name}"
    if root.exists():
        raise CliError(f"{str(root)!r} already exists; choose another NAME or --dir (nothing was changed)")
    cls = class_prefix(name)
    # Sorted like isort sorts them; where `factflow_<name>` lands depends on the name.
    test_imports = "\n".join(
        sorted(
            [
                "from factflow_engine.testing import run_adapter",
                "from factflow_protocols import NonRetryableError",
                f"from factflow_{name} import {cls}Adapter",
            ]
        )
    )
    values = {"name": name, "cls": cls, "test_imports": test_imports}
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"src/factflow_{name}/__init__.py": _INIT,
        f"src/factflow_{name}/adapter.py": _ADAPTER,
        f"src/factflow_{name}/py.typed": "",
        "tests/test_adapter.py": _TESTS,
    }
    try:
        root.mkdir(parents=True)
        for relative, template in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(template.format(**values), encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot create {str(root)!r} ({exc.strerror or exc})") from exc
    return root
