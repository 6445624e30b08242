"""The installed version of factflow-cli (looked up only when needed)."""

from __future__ import annotations

import functools

__all__ = ("cli_version",)


@functools.cache
def cli_version() -> str:
    """The factflow-cli distribution's version."""
    import importlib.metadata  # costs ~30 ms; only `--version` and API calls need it

    try:
        return importlib.metadata.version("factflow-cli")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"
