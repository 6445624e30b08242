"""Queue-name rules (docs/reference/pipeline-yaml.md, E201 and E203)."""

from __future__ import annotations

import re

from ._fields import Collector
from ._models import QUEUE_NAME_PATTERN, normalize_queue_name
from ._text import show

__all__ = ("check_queue_name",)

_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def check_queue_name(value: object, path: str, collector: Collector) -> str | None:
    """Check one queue name as written; return its normalised form, or None when invalid."""
    if not isinstance(value, str):
        collector.type_error(path, "a queue name (a string)", value)
        return None
    if value.startswith("/topic/"):
        collector.add(
            "E203",
            path,
            f"{show(value)} is a topic; factflow has queues only.",
            "Topics are unsupported; list one outbound queue per consumer.",
        )
        return None
    if _URI_SCHEME.match(value):
        collector.add(
            "E203",
            path,
            f"{show(value)} has a URI scheme; queue names are logical.",
            "Write the bare queue name, e.g. 'site.scrape'; the provider comes from FACTFLOW_QUEUE_URL.",
        )
        return None
    name = normalize_queue_name(value)
    if name.startswith("/"):
        collector.add(
            "E203",
            path,
            f"{show(value)} starts with '/' but not with '/queue/'.",
            "Write the bare name or '/queue/<name>', e.g. '/queue/site.markdown'.",
        )
        return None
    if not QUEUE_NAME_PATTERN.match(name):
        collector.add(
            "E201",
            path,
            f"{show(value)} is not a valid queue name.",
            "Use letters, digits, '.', '_', '-', e.g. '/queue/site.markdown'.",
        )
        return None
    return name
