"""`adapter test PATH`: an adapter package's adapters through the contract checks, then its tests.

The checks, per `factflow.adapters` entry point declared in `PATH/pyproject.toml`:

* **discoverable**: the installed entry points (the environment the CLI runs in) hold the name,
  pointing at the declared target, from this distribution; it loads a `PipelineAdapter`
  subclass whose `adapter_type` is the entry-point name.
* **config model**: `config_model` is None or a pydantic model with a JSON schema; the engine's
  validator accepts a one-route pipeline using the type (with `--config`, or the defaults) and
  rejects an unknown option with E301.
* **cancel-safe**: `process` cancelled at its first suspension point lets `CancelledError`
  through, and `stop()` still runs and returns.
* **JSON-safe outputs**: the result for the sample payload is JSON (no NaN, no non-string keys,
  no objects json cannot encode) in `message`, `emitted`, `storage_metadata` and `metadata`.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Literal

from ._errors import CliError
from ._exit_codes import ExitCode

__all__ = ("CheckResult", "PackageUnderTest", "check_adapter", "read_package", "run_package_tests")

GROUP = "factflow.adapters"
Outcome = Literal["pass", "fail", "skip"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check of one adapter (or of the package, for its tests)."""

    adapter: str
    """The entry-point name, or `*` for package-wide checks."""
    check: str
    """`discoverable`, `config model`, `cancel-safe`, `JSON-safe outputs` or `tests`."""
    outcome: Outcome
    detail: str

    def to_dict(self) -> dict[str, str]:
        """The JSON form."""
        return {"adapter": self.adapter, "check": self.check, "outcome": self.outcome, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class PackageUnderTest:
    """What `pyproject.toml` declares."""

    root: Path
    distribution: str
    version: str
    entry_points: Mapping[str, str]
    """Entry-point name → `module:attribute`."""


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_package(path: Path) -> PackageUnderTest:
    """Read the package's name, version and `factflow.adapters` entry points.

    Raises:
        CliError: exit 2 when PATH has no readable `pyproject.toml` or declares no adapter.
    """
    pyproject = path / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"cannot read {str(pyproject)!r} ({exc})", exit_code=ExitCode.USAGE) from exc
    declared = project.get("entry-points", {}).get(GROUP, {})
    if not declared:
        raise CliError(
            f'{str(pyproject)!r} declares no `[project.entry-points."{GROUP}"]`; nothing to test',
            exit_code=ExitCode.USAGE,
        )
    return PackageUnderTest(
        root=path,
        distribution=str(project.get("name", "")),
        version=str(project.get("version", "")),
        entry_points={str(name): str(target) for name, target in declared.items()},
    )


def _installed(name: str) -> list[EntryPoint]:
    return [ep for ep in entry_points(group=GROUP) if ep.name == name]


def _discoverable(package: PackageUnderTest, name: str) -> tuple[CheckResult, type[Any] | None]:
    from factflow_protocols import PipelineAdapter

    def fail(detail: str) -> tuple[CheckResult, None]:
        return CheckResult(name, "discoverable", "fail", detail), None

    found = _installed(name)
    if not found:
        return fail(f"no installed entry point {name!r}: install the package where factflow runs (pip install PATH)")
    mine = [ep for ep in found if ep.dist is not None and _normalise(ep.dist.name) == _normalise(package.distribution)]
    if len(found) > 1:
        owners = sorted({ep.dist.name if ep.dist else "?" for ep in found})
        return fail(f"{name!r} is declared by several installed distributions: {', '.join(owners)}")
    if not mine:
        owner = found[0].dist.name if found[0].dist else "?"
        return fail(f"{name!r} is installed from {owner!r}, not from {package.distribution!r}")
    entry = mine[0]
    if entry.value != package.entry_points[name]:
        return fail(
            f"installed target {entry.value!r} differs from pyproject's {package.entry_points[name]!r}; reinstall"
        )
    try:
        target = entry.load()
    except Exception as exc:  # any import failure is the finding
        return fail(f"loading {entry.value!r} failed: {type(exc).__name__}: {exc}")
    if not (isinstance(target, type) and issubclass(target, PipelineAdapter)):
        return fail(f"{entry.value!r} is not a PipelineAdapter subclass")
    adapter_type = getattr(target, "adapter_type", None)
    if adapter_type != name:
        return fail(f"`adapter_type` is {adapter_type!r}; it must equal the entry-point name {name!r}")
    version = entry.dist.version if entry.dist else "?"
    return CheckResult(name, "discoverable", "pass", f"{entry.value} from {package.distribution} {version}"), target


def _pipeline(name: str, config: Mapping[str, Any] | None) -> str:
    entry: dict[str, Any] = {"type": name}
    if config is not None:
        entry["config"] = dict(config)
    return json.dumps(
        {
            "version": "1.0",
            "name": "adapter-test",
            "routes": {"r": {"inbound": {"queue": "adapter-test.in"}, "adapters": [entry]}},
            "init_message": {"route": "r", "payload": {}},
        }
    )


def _config_model(name: str, cls: type[Any], config: Mapping[str, Any] | None) -> tuple[CheckResult, Any | None]:
    from pydantic import BaseModel, ValidationError

    from factflow_engine.config import PipelineConfigLoader
    from factflow_engine.registry import ValidatingAdapterRegistry

    model = getattr(cls, "config_model", None)
    if model is None:
        return CheckResult(name, "config model", "pass", "takes no config"), None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return CheckResult(name, "config model", "fail", "`config_model` is not a pydantic BaseModel subclass"), None
    try:
        model.model_json_schema()
        instance = model.model_validate(dict(config or {}))
    except ValidationError as exc:
        hint = "" if config else "; it has required options, pass them with --config"
        return CheckResult(name, "config model", "fail", f"{exc.error_count()} invalid option(s){hint}"), None
    except Exception as exc:  # a schema that cannot be generated is the finding
        return CheckResult(name, "config model", "fail", f"no JSON schema: {type(exc).__name__}: {exc}"), None
    loader = PipelineConfigLoader(ValidatingAdapterRegistry().auto_discover_and_register())
    report = loader.validate(_pipeline(name, config or {}))
    errors = [issue for issue in report.issues if issue.severity == "error"]
    if errors:
        first = errors[0]
        return CheckResult(name, "config model", "fail", f"validator: {first.code} {first.message}"), None
    unknown = loader.validate(_pipeline(name, {**(config or {}), "no_such_option_xyz": 1}))
    if "E301" not in {issue.code for issue in unknown.issues}:
        return (
            CheckResult(name, "config model", "fail", "an unknown option is accepted; set model_config extra='forbid'"),
            None,
        )
    fields = len(model.model_fields)
    return CheckResult(name, "config model", "pass", f"{model.__name__}: {fields} option(s), E301 on unknown"), instance


async def _cancel_outcome(task: asyncio.Future[Any]) -> str | None:
    """Cancel a running `process` task; the problem with how it ended, or None when it is right."""
    task.cancel()
    try:
        async with asyncio.timeout(10):
            await task
    except asyncio.CancelledError:
        if not task.cancelled():  # the check itself was cancelled, not the task
            raise
        return None
    except TimeoutError:
        return "process did not end within 10 s of being cancelled"
    except Exception as exc:  # raising something else on cancel is the finding
        return f"cancelled process raised {type(exc).__name__}: {exc}"
    return "process swallowed CancelledError and returned"


async def _cancel_safe(name: str, cls: type[Any], config: Any, payload: Mapping[str, Any]) -> CheckResult:
    from factflow_foundation import new_id
    from factflow_protocols import PipelineContext

    adapter = cls(config) if config is not None else cls()
    await adapter.start()
    context = PipelineContext(message=dict(payload), correlation_id=new_id())
    task = asyncio.ensure_future(adapter.process(context))
    await asyncio.sleep(0)  # let it run to its first suspension point
    if task.done():
        if not task.cancelled():
            task.exception()  # retrieved so it is not logged; the JSON-safe check judges the outcome
        problem = None
        detail = "process finished before its first suspension point"
    else:
        problem = await _cancel_outcome(task)
        detail = "CancelledError propagated; stop() ran"
    try:
        await adapter.stop()
    except Exception as exc:  # stop() must work after a cancellation
        problem = problem or f"stop() after a cancellation raised {type(exc).__name__}: {exc}"
    if problem:
        return CheckResult(name, "cancel-safe", "fail", problem)
    return CheckResult(name, "cancel-safe", "pass", detail)


def _json_problem(value: Any, where: str) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} holds {value!r}"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has the non-string key {key!r}"
            problem = _json_problem(item, f"{where}.{key}")
            if problem:
                return problem
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = _json_problem(item, f"{where}[{index}]")
            if problem:
                return problem
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return None
    return f"{where} holds a {type(value).__name__}, which is not JSON"


async def _json_safe(name: str, cls: type[Any], config: Any, payload: Mapping[str, Any]) -> CheckResult:
    from factflow_engine.testing import run_adapter
    from factflow_protocols import NonRetryableError

    adapter = cls(config) if config is not None else cls()
    try:
        result = await run_adapter(adapter, payload, timeout=30.0)
    except NonRetryableError as exc:
        return CheckResult(name, "JSON-safe outputs", "skip", f"the sample payload was rejected ({exc}); use --payload")
    except Exception as exc:  # an unexpected crash on the sample is the finding
        return CheckResult(name, "JSON-safe outputs", "fail", f"process raised {type(exc).__name__}: {exc}")
    if result is None or result.is_empty:
        return CheckResult(name, "JSON-safe outputs", "pass", "no output for the sample payload")
    parts: dict[str, Any] = {
        "message": result.message,
        "emitted": result.emitted,
        "storage_metadata": result.storage_metadata,
        "metadata": result.metadata,
    }
    for part, value in parts.items():
        problem = _json_problem(value, part)
        if problem:
            return CheckResult(name, "JSON-safe outputs", "fail", problem)
    shape = f"message with {len(result.message)} key(s)" if result.message is not None else "no message"
    return CheckResult(name, "JSON-safe outputs", "pass", f"{shape}, {len(result.emitted)} emitted")


def check_adapter(
    package: PackageUnderTest, name: str, *, payload: Mapping[str, Any], config: Mapping[str, Any] | None
) -> list[CheckResult]:
    """Run every contract check on one entry point; later checks are skipped after a failure."""
    discovered, cls = _discoverable(package, name)
    results = [discovered]
    skipped = ("config model", "cancel-safe", "JSON-safe outputs")
    if cls is None:
        return results + [CheckResult(name, check, "skip", "not discoverable") for check in skipped]
    model_result, instance = _config_model(name, cls, config)
    results.append(model_result)
    if model_result.outcome == "fail":
        return results + [CheckResult(name, check, "skip", "no valid config") for check in skipped[1:]]

    async def run() -> list[CheckResult]:
        return [await _cancel_safe(name, cls, instance, payload), await _json_safe(name, cls, instance, payload)]

    return results + asyncio.run(run())


def run_package_tests(package: PackageUnderTest, *, extra_args: Sequence[str] = ()) -> CheckResult:
    """Run the package's `tests/` with pytest in the CLI's interpreter, from the package root."""
    tests = package.root / "tests"
    if not tests.is_dir():
        return CheckResult("*", "tests", "fail", f"no tests/ directory in {str(package.root)!r}")
    # The tests run from the package root: relative PYTHONPATH entries must keep pointing where they did.
    env = dict(os.environ)
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(str(Path(entry).resolve()) for entry in env["PYTHONPATH"].split(os.pathsep))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra_args, "tests"],
        cwd=package.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    summary = next((line for line in reversed(result.stdout.splitlines()) if line.strip()), "no output")
    if result.returncode != 0:
        tail = "\n".join(result.stdout.splitlines()[-30:] + result.stderr.splitlines()[-10:])
        return CheckResult("*", "tests", "fail", f"{summary.strip('= ')}\n{tail}")
    return CheckResult("*", "tests", "pass", summary.strip("= "))
