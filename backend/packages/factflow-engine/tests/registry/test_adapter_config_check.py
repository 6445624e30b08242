from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from factflow_engine.config import ValidationIssue
from factflow_engine.registry import ValidatingAdapterRegistry, config_issues_error
from factflow_protocols import AdapterResult, PipelineAdapter, PipelineContext

ENTRY = "routes.scrape.adapters[2]"


class ScraperConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout: float = Field(default=30, ge=1, le=600)
    max_urls: int = Field(ge=1, le=100_000)
    mode: Literal["fast", "careful"] = "fast"
    user_agent: str = Field(default="factflow", min_length=3, pattern=r"^[a-z]+$")
    tags: list[str] = Field(default_factory=list, max_length=2)
    retries: int | None = None


class ScraperAdapter(PipelineAdapter):
    """Scrapes pages."""

    adapter_type = "web_scraper"
    config_model = ScraperConfig

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        return AdapterResult(message=context.message)


class LooseConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    timeout: int = 5


class LooseAdapter(PipelineAdapter):
    adapter_type = "loose"
    config_model = LooseConfig

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        return None


class RangeConfig(BaseModel):
    min_tokens: int = 0
    max_tokens: int = 10

    @model_validator(mode="after")
    def _ordered(self) -> RangeConfig:
        if self.min_tokens > self.max_tokens:
            raise ValueError("'min_tokens' must not exceed 'max_tokens'")
        return self


class RangeAdapter(PipelineAdapter):
    adapter_type = "segmenter"
    config_model = RangeConfig

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        return None


class CrashingConfig(BaseModel):
    ratio: int = 1

    @field_validator("ratio")
    @classmethod
    def _divide(cls, value: int) -> int:
        return 10 // value


class CrashingAdapter(PipelineAdapter):
    adapter_type = "crashing"
    config_model = CrashingConfig

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        return None


class Auth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str
    port: int = 0


class NestedConfig(BaseModel):
    auth: Auth
    alias_field: int = Field(default=0, alias="aliasField")


class NestedAdapter(PipelineAdapter):
    adapter_type = "nested"
    config_model = NestedConfig

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        return None


class CodedConfig(BaseModel):
    rule: str

    @field_validator("rule", mode="before")
    @classmethod
    def _rule(cls, raw: Any) -> Any:
        if raw != "ok":
            issue = ValidationIssue("error", "E401", "rule.operator", f"Unknown operator {raw!r}.", "Use 'eq'.")
            raise config_issues_error([issue])
        return raw


class CodedAdapter(PipelineAdapter):
    adapter_type = "coded"
    config_model = CodedConfig

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        return None


class PlainAdapter(PipelineAdapter):
    adapter_type = "url_expander"

    async def process(self, context: PipelineContext) -> AdapterResult | None:
        return AdapterResult(message=context.message)


@pytest.fixture
def registry() -> ValidatingAdapterRegistry:
    registry = ValidatingAdapterRegistry()
    for cls in (ScraperAdapter, LooseAdapter, RangeAdapter, CrashingAdapter, NestedAdapter, CodedAdapter, PlainAdapter):
        registry.register(cls, name=cls.adapter_type)
    return registry


def check(registry: ValidatingAdapterRegistry, adapter_type: str, config: object) -> list[ValidationIssue]:
    return registry.check_adapter(adapter_type, config, config_given=True, path=ENTRY)


def only(issues: list[ValidationIssue]) -> ValidationIssue:
    assert len(issues) == 1, issues
    return issues[0]


def test_valid_config_has_no_issues(registry: ValidatingAdapterRegistry) -> None:
    assert check(registry, "web_scraper", {"max_urls": 10, "timeout": 2.5, "tags": ["a"]}) == []


def test_e301_unknown_option_with_did_you_mean(registry: ValidatingAdapterRegistry) -> None:
    issue = only(check(registry, "web_scraper", {"max_urls": 10, "timout": 3}))
    assert (issue.code, issue.path, issue.severity) == ("E301", f"{ENTRY}.config.timout", "error")
    assert issue.suggestion == "'web_scraper' has no option 'timout'. Did you mean 'timeout'?"
    assert "'timout'" in issue.message
    assert (issue.line, issue.column) == (None, None)


def test_e301_without_close_match_lists_the_options(registry: ValidatingAdapterRegistry) -> None:
    issue = only(check(registry, "web_scraper", {"max_urls": 10, "zzz": 1}))
    assert issue.code == "E301"
    assert "timeout" in issue.suggestion and "max_urls" in issue.suggestion


def test_e301_reported_even_when_the_model_allows_extras(registry: ValidatingAdapterRegistry) -> None:
    issue = only(check(registry, "loose", {"timeot": 3}))
    assert (issue.code, issue.path) == ("E301", f"{ENTRY}.config.timeot")
    assert issue.suggestion.endswith("Did you mean 'timeout'?")


def test_e302_required_option_missing(registry: ValidatingAdapterRegistry) -> None:
    issue = only(check(registry, "web_scraper", {}))
    assert (issue.code, issue.path) == ("E302", f"{ENTRY}.config.max_urls")
    assert issue.suggestion == "'web_scraper' requires 'max_urls'."


def test_e302_when_no_config_key_was_written(registry: ValidatingAdapterRegistry) -> None:
    issues = registry.check_adapter("web_scraper", {}, config_given=False, path=ENTRY)
    assert [(i.code, i.path) for i in issues] == [("E302", f"{ENTRY}.config.max_urls")]


def test_e303_wrong_type_names_expected_and_given(registry: ValidatingAdapterRegistry) -> None:
    issue = only(check(registry, "web_scraper", {"max_urls": 10, "timeout": "thirty"}))
    assert (issue.code, issue.path) == ("E303", f"{ENTRY}.config.timeout")
    assert issue.suggestion == "'timeout' must be a number, got 'thirty'."


def test_e303_in_a_list_item_points_at_the_item(registry: ValidatingAdapterRegistry) -> None:
    issue = only(check(registry, "web_scraper", {"max_urls": 10, "tags": ["a", 5]}))
    assert (issue.code, issue.path) == ("E303", f"{ENTRY}.config.tags[1]")


def test_e303_through_an_optional_union_drops_the_member_tag(registry: ValidatingAdapterRegistry) -> None:
    issue = only(check(registry, "web_scraper", {"max_urls": 10, "retries": "many"}))
    assert (issue.code, issue.path) == ("E303", f"{ENTRY}.config.retries")
    assert issue.suggestion == "'retries' must be an integer, got 'many'."


@pytest.mark.parametrize(
    ("config", "field", "suggestion"),
    [
        ({"max_urls": 0}, "max_urls", "'max_urls' must be between 1 and 100000."),
        ({"max_urls": 10, "timeout": 601}, "timeout", "'timeout' must be between 1 and 600."),
        ({"max_urls": 10, "mode": "slow"}, "mode", "'mode' must be one of 'fast' or 'careful'."),
        ({"max_urls": 10, "user_agent": "ab"}, "user_agent", "'user_agent' must be at least 3 character(s) long."),
        ({"max_urls": 10, "user_agent": "ABC"}, "user_agent", "'user_agent' must match the pattern '^[a-z]+$'."),
        ({"max_urls": 10, "tags": ["a", "b", "c"]}, "tags", "'tags' must have at most 2 item(s)."),
    ],
)
def test_e304_constraint_violations(
    registry: ValidatingAdapterRegistry, config: dict[str, Any], field: str, suggestion: str
) -> None:
    issue = only(check(registry, "web_scraper", config))
    assert (issue.code, issue.path, issue.suggestion) == ("E304", f"{ENTRY}.config.{field}", suggestion)


@pytest.mark.parametrize(("config", "kind"), [(["a"], "a list"), ("fast", "a string"), (None, "null")])
def test_e305_config_not_a_mapping(registry: ValidatingAdapterRegistry, config: object, kind: str) -> None:
    issue = only(check(registry, "web_scraper", config))
    assert (issue.code, issue.path) == ("E305", f"{ENTRY}.config")
    assert kind in issue.message
    assert issue.suggestion.startswith("Write config as a mapping: {")


def test_e306_cross_field_rule(registry: ValidatingAdapterRegistry) -> None:
    issue = only(check(registry, "segmenter", {"min_tokens": 20, "max_tokens": 10}))
    assert (issue.code, issue.path) == ("E306", f"{ENTRY}.config")
    assert issue.suggestion == "'min_tokens' must not exceed 'max_tokens'."


def test_e307_config_for_an_adapter_without_model(registry: ValidatingAdapterRegistry) -> None:
    issue = only(check(registry, "url_expander", {"depth": 2}))
    assert (issue.code, issue.path) == ("E307", f"{ENTRY}.config")
    assert issue.suggestion == "'url_expander' takes no configuration; remove it."


def test_no_config_or_an_empty_one_is_fine_without_model(registry: ValidatingAdapterRegistry) -> None:
    assert registry.check_adapter("url_expander", {}, config_given=False, path=ENTRY) == []
    assert check(registry, "url_expander", {}) == []


def test_e308_model_raising_unexpectedly(registry: ValidatingAdapterRegistry) -> None:
    issue = only(check(registry, "crashing", {"ratio": 0}))
    assert (issue.code, issue.path) == ("E308", f"{ENTRY}.config")
    assert issue.suggestion == "The config model crashed (ZeroDivisionError); report it to the adapter maintainers."


def test_nested_model_paths(registry: ValidatingAdapterRegistry) -> None:
    issues = check(registry, "nested", {"auth": {"port": "x", "pasword": 1}})
    assert sorted((i.code, i.path) for i in issues) == [
        ("E301", f"{ENTRY}.config.auth.pasword"),
        ("E302", f"{ENTRY}.config.auth.user"),
        ("E303", f"{ENTRY}.config.auth.port"),
    ]


def test_aliases_are_the_accepted_keys(registry: ValidatingAdapterRegistry) -> None:
    assert check(registry, "nested", {"auth": {"user": "u"}, "aliasField": 3}) == []
    issue = only(check(registry, "nested", {"auth": {"user": "u"}, "alias_field": 3}))
    assert issue.code == "E301"
    assert issue.suggestion.endswith("Did you mean 'aliasField'?")


def test_coded_issues_from_a_model_validator_keep_their_code(registry: ValidatingAdapterRegistry) -> None:
    issue = only(check(registry, "coded", {"rule": "bad"}))
    assert (issue.code, issue.path, issue.suggestion) == ("E401", f"{ENTRY}.config.rule.operator", "Use 'eq'.")


def test_several_problems_are_all_reported(registry: ValidatingAdapterRegistry) -> None:
    issues = check(registry, "web_scraper", {"timeout": "x", "mode": "slow", "extra": 1})
    assert sorted(i.code for i in issues) == ["E301", "E302", "E303", "E304"]


def test_validate_config_uses_the_given_config_path(registry: ValidatingAdapterRegistry) -> None:
    issues = registry.validate_config("web_scraper", {"max_urls": 0}, path="adapters[0].config")
    assert [(i.code, i.path) for i in issues] == [("E304", "adapters[0].config.max_urls")]
