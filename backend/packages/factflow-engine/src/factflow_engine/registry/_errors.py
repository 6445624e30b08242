"""Errors raised by the adapter registry when code (not the validator) asks for an adapter."""

from __future__ import annotations

from collections.abc import Iterable

from factflow_foundation import FactflowError, NotFoundError

from ..config import ValidationIssue

__all__ = ("AdapterConfigError", "AdapterNotFoundError", "AdapterRegistryError", "AdapterUnavailableError")


class AdapterRegistryError(FactflowError):
    """An adapter type cannot be looked up, built or configured.

    Args:
        message: One sentence naming the offending value.
        issues: The validation issues behind the failure (E103, E107 or E3xx).
        candidates: Close matches for an unknown type, also put into `context["candidates"]`.
    """

    default_code = "adapter_registry_error"

    def __init__(
        self,
        message: str,
        *,
        issues: Iterable[ValidationIssue] = (),
        candidates: Iterable[str] = (),
        code: str | None = None,
    ) -> None:
        self.issues = tuple(issues)
        self.candidates = tuple(candidates)
        context = {"candidates": list(self.candidates)} if self.candidates else None
        super().__init__(message, code=code, context=context)


class AdapterNotFoundError(AdapterRegistryError, NotFoundError):
    """No adapter type of that name is registered (E103); `candidates` holds close matches."""

    default_code = "adapter_not_found"


class AdapterUnavailableError(AdapterRegistryError):
    """The adapter type is registered but unusable: import failure, invalid class or ambiguity (E107)."""

    default_code = "adapter_unavailable"


class AdapterConfigError(AdapterRegistryError, ValueError):
    """The config given to `create` failed the adapter's config checks (E3xx issues in `issues`)."""

    default_code = "adapter_config_invalid"
