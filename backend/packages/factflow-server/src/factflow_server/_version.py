"""The distribution version, read once from the installed metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ("SERVER_VERSION",)

try:
    SERVER_VERSION = version("factflow-server")
except PackageNotFoundError:  # running from a source tree without metadata
    SERVER_VERSION = "0.0.0"
