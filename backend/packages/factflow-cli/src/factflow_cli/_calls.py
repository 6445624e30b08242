"""One-call helpers for commands: a request, its JSON answer, and paging through lists.

Importing this module is cheap; httpx is loaded only when a call is made.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from ._errors import CliError
from ._state import CliState

if TYPE_CHECKING:
    from factflow_protocols import JSONObject

    from ._client import ApiClient

__all__ = (
    "call",
    "delete",
    "fetch_all_pages",
    "get_json",
    "is_uuid",
    "object_path",
    "patch_json",
    "post_json",
    "put_json",
    "segment",
)

T = TypeVar("T")

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


def is_uuid(value: str) -> bool:
    """True when `value` is UUID-shaped (an id rather than a tag)."""
    return _UUID.match(value) is not None


def segment(value: str) -> str:
    """`value` as one URL path segment (every reserved character percent-encoded)."""
    return quote(value, safe="")


def object_path(key: str) -> str:
    """The API path of a storage object: `/` stays literal, other reserved characters are percent-encoded.

    `.` and `..` segments are encoded too, so the server judges such keys instead of the HTTP
    client silently resolving them.
    """
    segments = [
        quote(part, safe="") if part not in (".", "..") else part.replace(".", "%2E") for part in key.split("/")
    ]
    return "/storage/objects/" + "/".join(segments)


def call(
    state: CliState,
    work: Callable[[ApiClient], Awaitable[T]],
    *,
    default_timeout: float | None = None,
    timeout_is_deadline: bool = False,
) -> T:
    """Run `work(api)` with a client for this invocation and return its result.

    Args:
        state: The invocation's global options.
        work: The calls to make.
        default_timeout: Seconds per exchange when `--timeout` is not given (default 30 s).
        timeout_is_deadline: `--timeout` is a wait's deadline (`--wait` flags), so these
            exchanges keep `default_timeout`.
    """
    from ._client import ApiClient, run_async
    from ._state import DEFAULT_TIMEOUT_SECONDS

    default = DEFAULT_TIMEOUT_SECONDS if default_timeout is None else default_timeout
    timeout = default if timeout_is_deadline else state.timeout_or(default)

    async def run() -> T:
        async with ApiClient(state.api_url, token=state.token, timeout=timeout) as api:
            return await work(api)

    return run_async(run())


def get_json(state: CliState, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
    """`GET path` and its decoded JSON body."""
    return call(state, lambda api: api.get_json(path, params=params))


def post_json(state: CliState, path: str, body: Any = None, *, params: Mapping[str, Any] | None = None) -> Any:
    """`POST path` with a JSON body (none when `body` is None) and the decoded answer."""
    return call(state, lambda api: api.post_json(path, body, params=params))


def put_json(state: CliState, path: str, body: Any) -> Any:
    """`PUT path` with a JSON body and the decoded answer."""
    return call(state, lambda api: api.put_json(path, body))


def patch_json(state: CliState, path: str, body: Any) -> Any:
    """`PATCH path` with a JSON body and the decoded answer."""
    return call(state, lambda api: api.patch_json(path, body))


def delete(state: CliState, path: str) -> None:
    """`DELETE path` (a 204 is success)."""
    call(state, lambda api: api.delete(path))


PAGE_LIMIT = 1000
"""Page size when following every page (the API's maximum for most lists)."""


async def fetch_all_pages(
    api: ApiClient,
    path: str,
    *,
    items: str,
    params: Mapping[str, Any] | None = None,
    limit: int = PAGE_LIMIT,
    cursor: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> JSONObject:
    """Every page of a paged list, merged into one document shaped like a single page.

    Lists that answer `next_cursor` are followed by cursor (from `cursor`, when given), others by
    offset. The first page's fields are kept; `items` holds every item, `offset` is 0,
    `has_more` false and `next_cursor` (when the list has it) null. `progress(done, total)` is
    called after each page.
    """
    merged: JSONObject | None = None
    collected: list[Any] = []
    offset = 0
    while True:
        position: JSONObject = {"cursor": cursor} if cursor is not None else {"offset": offset}
        page = await api.get_json(path, params={**(params or {}), "limit": limit, **position})
        if not isinstance(page, dict) or not isinstance(page.get(items), list):
            raise CliError(f"the server's answer to GET {path} is not a page of {items!r}")
        merged = merged if merged is not None else page
        batch = page[items]
        collected.extend(batch)
        offset += len(batch)
        if progress is not None:
            progress(len(collected), int(page.get("total", len(collected))))
        if "next_cursor" in page:
            cursor = page["next_cursor"]
            if not batch or cursor is None:
                break
            continue
        if not batch or not page.get("has_more") or offset >= int(page.get("total", 0)):
            break
    assert merged is not None
    done = {**merged, items: collected, "offset": 0, "has_more": False}
    if "next_cursor" in merged:
        done["next_cursor"] = None
    return done
