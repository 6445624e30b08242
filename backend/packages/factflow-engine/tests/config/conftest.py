"""Shared fixtures: a small adapter checker that knows the adapter types of the spec's examples."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from factflow_engine.config import AdapterConfigChecker, PipelineConfigLoader, ValidationIssue

DATA_DIR = Path(__file__).parent / "data"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebScraperConfig(_Strict):
    timeout: float = Field(default=30, gt=0, le=300)
    follow_redirects: bool = True


class SitemapParserConfig(_Strict):
    max_urls: int = Field(ge=1, le=100_000)


class HtmlToMarkdownConfig(_Strict):
    preserve_images: bool = True
    max_tokens: int = Field(default=4096, ge=1)


class SmartSegmenterConfig(_Strict):
    min_tokens: int = Field(default=64, ge=1)
    max_tokens: int = Field(default=512, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> SmartSegmenterConfig:
        if self.min_tokens > self.max_tokens:
            raise ValueError("'min_tokens' must not exceed 'max_tokens'")
        return self


class EmbeddingGeneratorConfig(_Strict):
    model: str = "text-embedding-3-small"
    slot: str = "default"


class SetFieldsConfig(_Strict):
    values: dict[str, Any]
    overwrite: bool = True


class CrashingConfig(_Strict):
    factor: int = 1

    @model_validator(mode="after")
    def _crash(self) -> CrashingConfig:
        raise ZeroDivisionError("division by zero")


MODELS: dict[str, type[BaseModel] | None] = {
    "sitemap_parser": SitemapParserConfig,
    "url_expander": None,
    "web_scraper": WebScraperConfig,
    "web_content_storage": None,
    "html_to_markdown": HtmlToMarkdownConfig,
    "smart_segmenter": SmartSegmenterConfig,
    "segment_publisher": None,
    "markdown_storage_writer": None,
    "embedding_generator": EmbeddingGeneratorConfig,
    "passthrough": None,
    "set_fields": SetFieldsConfig,
    "crashing_adapter": CrashingConfig,
}
BROKEN = {"pdf_reader": "No module named 'pypdf'"}

_TYPE_CODES = ("type", "parsing")


class FakeAdapterChecker:
    """A stand-in for `ValidatingAdapterRegistry` with the same issue codes and paths."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object, bool, str]] = []

    def check_adapter(
        self, adapter_type: str, config: object, *, config_given: bool, path: str
    ) -> list[ValidationIssue]:
        self.calls.append((adapter_type, config, config_given, path))
        if adapter_type in BROKEN:
            reason = BROKEN[adapter_type]
            return [
                _issue(
                    "E107",
                    f"{path}.type",
                    f"Adapter type '{adapter_type}' failed to load.",
                    f"'{adapter_type}' failed to load ({reason}); reinstall its package.",
                )
            ]
        if adapter_type not in MODELS:
            match = difflib.get_close_matches(adapter_type, list(MODELS), n=1, cutoff=0.6)
            hint = f" Did you mean '{match[0]}'?" if match else ""
            return [
                _issue(
                    "E103",
                    f"{path}.type",
                    f"'{adapter_type}' is not registered.",
                    f"'{adapter_type}' is not registered.{hint}",
                )
            ]
        model = MODELS[adapter_type]
        if model is None:
            if config_given:
                return [
                    _issue(
                        "E307",
                        f"{path}.config",
                        f"'{adapter_type}' has no config model.",
                        f"'{adapter_type}' takes no configuration; remove it.",
                    )
                ]
            return []
        if not isinstance(config, Mapping):
            return [
                _issue(
                    "E305", f"{path}.config", "config is not a mapping.", "Write config as a mapping: {timeout: 30}."
                )
            ]
        try:
            model.model_validate(dict(config))
        except ValidationError as exc:
            return [_from_pydantic(adapter_type, path, error) for error in exc.errors()]
        except Exception as exc:
            name = type(exc).__name__
            return [
                _issue(
                    "E308",
                    f"{path}.config",
                    f"The config model of '{adapter_type}' raised {name}.",
                    f"The config model crashed ({name}); report it to the adapter maintainers.",
                )
            ]
        return []


def _issue(code: str, path: str, message: str, suggestion: str) -> ValidationIssue:
    return ValidationIssue("error", code, path, message, suggestion)


def _from_pydantic(adapter_type: str, path: str, error: object) -> ValidationIssue:
    assert isinstance(error, dict)
    loc = ".".join(str(part) for part in error["loc"])
    field_path = f"{path}.config.{loc}" if loc else f"{path}.config"
    kind = str(error["type"])
    if kind == "extra_forbidden":
        return _issue(
            "E301", field_path, f"'{adapter_type}' has no option '{loc}'.", f"'{adapter_type}' has no option '{loc}'."
        )
    if kind == "missing":
        return _issue("E302", f"{path}.config", f"'{loc}' is missing.", f"'{adapter_type}' requires '{loc}'.")
    if kind.endswith(_TYPE_CODES):
        return _issue("E303", field_path, str(error["msg"]), f"'{loc}' has the wrong type.")
    if not loc:
        return _issue("E306", field_path, str(error["msg"]), str(error["msg"]))
    return _issue("E304", field_path, str(error["msg"]), str(error["msg"]))


@pytest.fixture
def checker() -> AdapterConfigChecker:
    return FakeAdapterChecker()


@pytest.fixture
def loader(checker: AdapterConfigChecker) -> PipelineConfigLoader:
    return PipelineConfigLoader(checker)
