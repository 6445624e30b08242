from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from factflow_engine.config import ValidationIssue
from factflow_engine.registry import (
    AdapterConfigError,
    AdapterDiscovery,
    AdapterNotFoundError,
    AdapterUnavailableError,
    ValidatingAdapterRegistry,
    auto_discover_and_register,
)
from factflow_protocols import AdapterResult, PipelineAdapter, PipelineContext

ENTRY = "routes.r.adapters[0]"

ADAPTER_MODULE = '''
from __future__ import annotations

from pydantic import BaseModel, Field

from factflow_protocols import AdapterResult, PipelineAdapter, PipelineContext


class EchoConfig(BaseModel):
    """Echo options."""

    prefix: str = Field(description="Put in front of the text.")
    repeat: int = Field(default=1, ge=1, le=5)


class EchoAdapter(PipelineAdapter):
    """Echoes the text with a prefix.

    More words.
    """

    adapter_type = "{name}"
    config_model = EchoConfig

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        assert isinstance(self.config, EchoConfig)
        return AdapterResult(message={{"text": self.config.prefix + context.message["text"] * self.config.repeat}})


class NotAnAdapter:
    adapter_type = "{name}"


class Mismatched(EchoAdapter):
    adapter_type = "something_else"


class BadModel(EchoAdapter):
    config_model = dict  # type: ignore[assignment]


class Abstract(PipelineAdapter):
    adapter_type = "{name}"
'''


class Site:
    """A directory of fake installed distributions (dist-info + modules), scanned by `AdapterDiscovery`."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        monkeypatch.syspath_prepend(str(root))

    def module(self, source: str) -> str:
        name = f"fake_adapters_{uuid.uuid4().hex[:12]}"
        (self.root / f"{name}.py").write_text(source)
        return name

    def distribution(self, name: str, version: str, entry_points: dict[str, str]) -> None:
        info = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        lines = "\n".join(f"{key} = {value}" for key, value in entry_points.items())
        (info / "entry_points.txt").write_text(f"[factflow.adapters]\n{lines}\n\n[console_scripts]\nx = y:z\n")

    def discovery(self) -> AdapterDiscovery:
        return AdapterDiscovery(path=[str(self.root)])

    def registry(self) -> ValidatingAdapterRegistry:
        return ValidatingAdapterRegistry().auto_discover_and_register(self.discovery())


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    return Site(tmp_path / "site", monkeypatch)


def e107(registry: ValidatingAdapterRegistry, name: str) -> ValidationIssue:
    issues = registry.check_adapter(name, {}, config_given=False, path=ENTRY)
    assert len(issues) == 1, issues
    assert (issues[0].code, issues[0].path) == ("E107", f"{ENTRY}.type")
    return issues[0]


# ---------------------------------------------------------------- discovery


def test_discovery_maps_names_to_entry_point_and_distribution(site: Site) -> None:
    module = site.module(ADAPTER_MODULE.format(name="echo"))
    site.distribution("factflow-echo", "1.2.3", {"echo": f"{module}:EchoAdapter"})
    entries = site.discovery().discover()
    assert list(entries) == ["echo"]
    (source,) = entries["echo"]
    assert (source.name, source.value, source.distribution, source.version) == (
        "echo",
        f"{module}:EchoAdapter",
        "factflow-echo",
        "1.2.3",
    )


def test_discovery_reads_the_group_once(site: Site) -> None:
    discovery = site.discovery()
    assert discovery.discover() == {}
    site.distribution("late", "1.0", {"late": "nowhere:Late"})
    assert discovery.discover() == {}
    assert list(site.discovery().discover()) == ["late"]


def test_discovery_does_not_import_anything(site: Site) -> None:
    site.distribution("broken", "1.0", {"broken": "module_that_does_not_exist:X"})
    assert list(site.discovery().discover()) == ["broken"]


# ---------------------------------------------------------------- registration rules


def test_usable_entry_point_is_registered(site: Site) -> None:
    module = site.module(ADAPTER_MODULE.format(name="echo"))
    site.distribution("factflow-echo", "1.2.3", {"echo": f"{module}:EchoAdapter"})
    registry = site.registry()
    assert registry.types() == ("echo",)
    assert "echo" in registry
    assert registry.check_adapter("echo", {"prefix": ">"}, config_given=True, path=ENTRY) == []


async def test_create_builds_a_configured_instance(site: Site) -> None:
    module = site.module(ADAPTER_MODULE.format(name="echo"))
    site.distribution("factflow-echo", "1.2.3", {"echo": f"{module}:EchoAdapter"})
    adapter = site.registry().create("echo", {"prefix": ">", "repeat": 2})
    result = await adapter.process(PipelineContext(message={"text": "ab"}, correlation_id="m1"))
    assert result is not None and result.message == {"text": ">abab"}


def test_import_failure_is_e107_naming_entry_point_and_distribution(site: Site) -> None:
    site.distribution("factflow-broken", "0.1", {"broken": "module_that_does_not_exist:Adapter"})
    registry = site.registry()
    assert registry.types() == ()
    issue = e107(registry, "broken")
    assert "No module named 'module_that_does_not_exist'" in issue.message
    assert "'broken = module_that_does_not_exist:Adapter'" in issue.message
    assert "'factflow-broken'" in issue.message
    assert (
        issue.suggestion
        == "'broken' failed to load (No module named 'module_that_does_not_exist'); reinstall its package."
    )


def test_module_raising_on_import_is_e107(site: Site) -> None:
    module = site.module("raise RuntimeError('boom at import')\n")
    site.distribution("factflow-boom", "0.1", {"boom": f"{module}:Adapter"})
    issue = e107(site.registry(), "boom")
    assert "RuntimeError: boom at import" in issue.message


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("NotAnAdapter", "is not a PipelineAdapter subclass"),
        ("Mismatched", "declares adapter_type 'something_else', not 'echo'"),
        ("BadModel", "config_model is neither None nor a pydantic BaseModel subclass"),
        ("Abstract", "is abstract"),
        ("no_such_attribute", "failed to load (AttributeError"),
    ],
)
def test_invalid_targets_are_e107(site: Site, target: str, expected: str) -> None:
    module = site.module(ADAPTER_MODULE.format(name="echo"))
    site.distribution("factflow-echo", "1.0", {"echo": f"{module}:{target}"})
    registry = site.registry()
    issue = e107(registry, "echo")
    assert expected in issue.message
    assert "'factflow-echo'" in issue.message
    assert f"{module}:{target}" in issue.message
    info = registry.describe_one("echo")
    assert info["load_error"] is not None and expected in info["load_error"]["message"]


@pytest.mark.parametrize("name", ["Echo", "e", "9lives", "with-dash", "x" * 65])
def test_bad_names_are_e107(site: Site, name: str) -> None:
    module = site.module(ADAPTER_MODULE.format(name=name))
    site.distribution("factflow-echo", "1.0", {name: f"{module}:EchoAdapter"})
    issue = e107(site.registry(), name)
    assert "does not match ^[a-z][a-z0-9_]{1,63}$" in issue.message


def test_name_declared_by_two_distributions_is_ambiguous(site: Site) -> None:
    module = site.module(ADAPTER_MODULE.format(name="echo"))
    site.distribution("factflow-echo", "1.0", {"echo": f"{module}:EchoAdapter"})
    site.distribution("other-echo", "2.0", {"echo": f"{module}:EchoAdapter", "solo": "nowhere:X"})
    registry = site.registry()
    issue = e107(registry, "echo")
    assert "declared by 'factflow-echo' and 'other-echo'" in issue.message
    assert "'factflow-echo'" in issue.suggestion and "'other-echo'" in issue.suggestion
    load_error = registry.describe_one("echo")["load_error"]
    assert load_error is not None and load_error["error_type"] == "AmbiguousAdapterType"


def test_registering_a_different_class_under_a_taken_name_is_ambiguous() -> None:
    class First(PipelineAdapter):
        adapter_type = "same"

        async def process(self, context: PipelineContext) -> AdapterResult | None:
            return None

    class Second(First):
        pass

    registry = ValidatingAdapterRegistry()
    registry.register(First, name="same")
    registry.register(First, name="same")
    assert registry.types() == ("same",)
    registry.register(Second, name="same")
    assert registry.types() == ()
    assert "is declared by" in e107(registry, "same").message


def test_module_level_auto_discover_builds_a_new_registry(site: Site) -> None:
    module = site.module(ADAPTER_MODULE.format(name="echo"))
    site.distribution("factflow-echo", "1.0", {"echo": f"{module}:EchoAdapter"})
    first = auto_discover_and_register(site.discovery())
    second = auto_discover_and_register(site.discovery())
    assert first is not second
    assert first.types() == second.types() == ("echo",)


def test_one_broken_package_does_not_hide_the_others(site: Site) -> None:
    module = site.module(ADAPTER_MODULE.format(name="echo"))
    site.distribution("factflow-echo", "1.0", {"echo": f"{module}:EchoAdapter"})
    site.distribution("factflow-broken", "1.0", {"broken": "missing_module:X"})
    registry = site.registry()
    assert registry.types() == ("echo",)
    assert [info["type"] for info in registry.describe()] == ["broken", "echo"]


# ---------------------------------------------------------------- unknown types


def test_unknown_type_is_e103_with_did_you_mean(site: Site) -> None:
    module = site.module(ADAPTER_MODULE.format(name="web_scraper"))
    site.distribution("factflow-web", "1.0", {"web_scraper": f"{module}:EchoAdapter"})
    issues = site.registry().check_adapter("web_scrapr", {"x": 1}, config_given=True, path=ENTRY)
    assert [(i.code, i.path) for i in issues] == [("E103", f"{ENTRY}.type")]
    assert issues[0].suggestion == "'web_scrapr' is not registered. Did you mean 'web_scraper'?"


def test_unknown_type_without_a_close_match() -> None:
    (issue,) = ValidatingAdapterRegistry().check_adapter("zzz", {}, config_given=False, path=ENTRY)
    assert issue.code == "E103"
    assert "Did you mean" not in issue.suggestion


def test_get_and_create_raise_typed_errors(site: Site) -> None:
    module = site.module(ADAPTER_MODULE.format(name="echo"))
    site.distribution("factflow-echo", "1.0", {"echo": f"{module}:EchoAdapter"})
    site.distribution("factflow-broken", "1.0", {"broken": "missing_module:X"})
    registry = site.registry()
    with pytest.raises(AdapterNotFoundError) as not_found:
        registry.create("ecko", {})
    assert not_found.value.code == "adapter_not_found"
    assert not_found.value.context == {"candidates": ["echo"]}
    with pytest.raises(AdapterUnavailableError) as unavailable:
        registry.get("broken")
    assert unavailable.value.issues[0].code == "E107"
    with pytest.raises(AdapterConfigError) as invalid:
        registry.create("echo", {"prefix": ">", "repeat": 9})
    assert [i.code for i in invalid.value.issues] == ["E304"]
    with pytest.raises(AdapterConfigError):
        registry.create("echo")


# ---------------------------------------------------------------- describe


def test_describe_returns_adapter_info_exactly(site: Site) -> None:
    module = site.module(ADAPTER_MODULE.format(name="echo"))
    site.distribution("factflow-echo", "1.2.3", {"echo": f"{module}:EchoAdapter"})
    site.distribution("factflow-broken", "0.1", {"broken": "missing_module:X"})
    registry = site.registry()
    infos = registry.describe()
    assert [info["type"] for info in infos] == ["broken", "echo"]
    echo = registry.describe_one("echo")
    assert echo == infos[1]
    assert list(echo) == [
        "type",
        "class_path",
        "package",
        "package_version",
        "description",
        "config_schema",
        "load_error",
    ]
    assert echo["class_path"] == f"{module}:EchoAdapter"
    assert (echo["package"], echo["package_version"]) == ("factflow-echo", "1.2.3")
    assert echo["description"] == "Echoes the text with a prefix."
    assert echo["load_error"] is None
    schema = echo["config_schema"]
    assert schema is not None and schema["required"] == ["prefix"]
    assert schema["properties"]["repeat"]["maximum"] == 5
    broken = infos[0]
    assert broken["config_schema"] is None and broken["description"] is None
    assert broken["load_error"] is not None
    assert broken["load_error"]["error_type"] == "ModuleNotFoundError"
    json.dumps(infos)  # the API serialises it as is


def test_describe_one_unknown_type_lists_candidates() -> None:
    class Scraper(PipelineAdapter):
        adapter_type = "web_scraper"

        async def process(self, context: PipelineContext) -> AdapterResult | None:
            return None

    registry = ValidatingAdapterRegistry()
    registry.register(Scraper, name="web_scraper")
    info = registry.describe_one("web_scraper")
    assert info["package"] is None
    assert info["config_schema"] is None
    assert info["class_path"].endswith(":test_describe_one_unknown_type_lists_candidates.<locals>.Scraper")
    with pytest.raises(AdapterNotFoundError) as excinfo:
        registry.describe_one("web_scrape")
    assert excinfo.value.candidates == ("web_scraper",)


def test_registered_class_with_config_model() -> None:
    class Config(BaseModel):
        size: int = Field(default=1, ge=1)

    class Sized(PipelineAdapter):
        adapter_type = "sized"
        config_model = Config

        async def process(self, context: PipelineContext) -> AdapterResult | None:
            return None

    registry = ValidatingAdapterRegistry()
    registry.register(Sized, name="sized")
    adapter = registry.create("sized", {"size": 3})
    assert isinstance(adapter.config, Config) and adapter.config.size == 3
    assert isinstance(registry.create("sized").config, Config)


def test_entry_point_adapter_without_config_model(site: Site) -> None:
    module = site.module(
        textwrap.dedent(
            """
            from factflow_protocols import PipelineAdapter

            class Tiny(PipelineAdapter):
                adapter_type = "tiny"

                async def process(self, context):
                    return None
            """
        )
    )
    site.distribution("tiny", "1", {"tiny": f"{module}:Tiny"})
    registry = site.registry()
    assert registry.types() == ("tiny",)
    assert registry.check_adapter("tiny", {"a": 1}, config_given=True, path=ENTRY)[0].code == "E307"
