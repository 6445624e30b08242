"""Entry-point discovery: which installed distributions declare which adapter types."""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ("ADAPTER_ENTRY_POINT_GROUP", "AdapterDiscovery", "AdapterSource")

logger = logging.getLogger(__name__)

ADAPTER_ENTRY_POINT_GROUP = "factflow.adapters"
"""The entry-point group adapters are declared in; the entry-point name is the YAML `type`."""


@dataclass(frozen=True, slots=True)
class AdapterSource:
    """Where an adapter type was declared: an entry point of a distribution, or a direct registration."""

    name: str
    """The entry-point name (= the YAML `type`)."""
    value: str
    """The target as `module:Class`."""
    distribution: str | None = None
    """Name of the distribution declaring it; `None` for a class registered in code."""
    version: str | None = None
    """Version of that distribution."""
    entry_point: importlib.metadata.EntryPoint | None = field(default=None, compare=False, repr=False)
    """The entry point itself, when discovered."""

    @classmethod
    def from_entry_point(cls, entry_point: importlib.metadata.EntryPoint) -> AdapterSource:
        dist = entry_point.dist
        return cls(
            name=entry_point.name,
            value=entry_point.value,
            distribution=dist.name if dist is not None else None,
            version=dist.version if dist is not None else None,
            entry_point=entry_point,
        )

    @classmethod
    def from_class(cls, target: object, *, name: str) -> AdapterSource:
        """The source of an object registered in code (tests, embedding applications)."""
        module = getattr(target, "__module__", None) or "?"
        qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
        return cls(name=name, value=f"{module}:{qualname}")

    def load(self) -> object:
        """Import the target.

        Raises:
            Exception: whatever importing the module or resolving the attribute raised.
        """
        if self.entry_point is not None:
            return self.entry_point.load()
        return importlib.metadata.EntryPoint(name=self.name, value=self.value, group=ADAPTER_ENTRY_POINT_GROUP).load()

    def describe(self) -> str:
        """`entry point 'name = module:Class' of distribution 'pkg'`, for messages."""
        text = f"entry point '{self.name} = {self.value}'"
        if self.distribution is not None:
            text += f" of distribution {self.distribution!r}"
        return text


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class AdapterDiscovery:
    """Reads the `factflow.adapters` entry-point group once and keeps `name → sources`.

    A name normally has one source. A name declared by several distributions keeps all of them,
    so the registry can mark it ambiguous and name every distribution.

    Args:
        group: The entry-point group to read.
        path: Directories to scan instead of `sys.path` (tests use a temporary directory).
    """

    def __init__(self, *, group: str = ADAPTER_ENTRY_POINT_GROUP, path: Sequence[str] | None = None) -> None:
        self._group = group
        self._path = list(path) if path is not None else None
        self._entries: Mapping[str, tuple[AdapterSource, ...]] | None = None

    @property
    def group(self) -> str:
        return self._group

    def discover(self) -> Mapping[str, tuple[AdapterSource, ...]]:
        """Every declared adapter name with its sources, sorted by name; read on the first call only.

        Importing the targets is left to the registry, so one broken package cannot hide the others.
        """
        if self._entries is None:
            self._entries = MappingProxyType(self._read())
        return self._entries

    def _read(self) -> dict[str, tuple[AdapterSource, ...]]:
        distributions = (
            importlib.metadata.distributions(path=self._path)
            if self._path is not None
            else importlib.metadata.distributions()
        )
        found: dict[str, list[AdapterSource]] = {}
        seen: set[str] = set()
        for dist in distributions:
            # The first copy of a distribution on the path is the one Python imports; later
            # copies (stale installs further down sys.path) are not separate declarations.
            key = _normalized(dist.name or "")
            if key in seen:
                continue
            seen.add(key)
            for entry_point in dist.entry_points.select(group=self._group):
                found.setdefault(entry_point.name, []).append(AdapterSource.from_entry_point(entry_point))
        entries = {name: tuple(sorted(sources, key=_source_order)) for name, sources in sorted(found.items())}
        logger.debug("discovered %d adapter entry points in group %r", len(entries), self._group)
        return entries


def _source_order(source: AdapterSource) -> tuple[str, str]:
    return (source.distribution or "", source.value)
