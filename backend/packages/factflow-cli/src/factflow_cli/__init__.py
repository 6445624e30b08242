"""The `factflow` command-line client."""

from __future__ import annotations

__all__: tuple[str, ...] = ()
