"""What the validator needs from the adapter registry."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._issues import ValidationIssue

__all__ = ("AdapterConfigChecker",)


@runtime_checkable
class AdapterConfigChecker(Protocol):
    """Checks one adapter entry against the registered adapter types.

    Implemented by `ValidatingAdapterRegistry`. The validator calls it once per adapter entry
    whose `type` is a string; with no checker, adapter types and configs are not checked.
    """

    def check_adapter(
        self, adapter_type: str, config: object, *, config_given: bool, path: str
    ) -> list[ValidationIssue]:
        """Return E103/E107/E3xx issues for the adapter entry at `path` (e.g. `routes.r.adapters[2]`).

        Issue paths: E103 and E107 at `<path>.type`; E301–E308 at `<path>.config.<field>`, or
        `<path>.config` when no single field is at fault. `line`/`column` are left `None`; the
        validator fills them from its position map. `config_given` is false when the entry had
        no `config:` key (then `config` is `{}`).
        """
        ...
