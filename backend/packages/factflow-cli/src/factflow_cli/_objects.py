"""`storage get` and `storage metadata`: an object's bytes, its JSON form and its metadata rows."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from ._calls import call, object_path
from ._client import ApiClient
from ._errors import CliError
from ._output import format_json_inline, format_size, format_time, make_panel, print_json, print_renderable
from ._state import CliState

if TYPE_CHECKING:
    from factflow_protocols import JSONObject

__all__ = ("decode_content", "metadata_rows", "print_object_json", "print_object_table", "write_raw")

_JSON_TYPES = ("application/json", "text/json")


def write_raw(state: CliState, key: str) -> None:
    """Copy the object's bytes to stdout unchanged; on a terminal only UTF-8 text is printed."""
    terminal = sys.stdout.isatty()

    async def work(api: ApiClient) -> None:
        async with api.stream("GET", object_path(key)) as response:
            if terminal:
                data = await response.aread()
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    raise CliError(
                        f"{key!r} is not UTF-8 text; redirect it to a file (> out.bin) or use --output json"
                    ) from None
                sys.stdout.write(text)
                sys.stdout.flush()
                return
            out = sys.stdout.buffer
            async for chunk in response.aiter_bytes():
                out.write(chunk)
            out.flush()

    call(state, work)


def _is_json_type(content_type: str) -> bool:
    base = content_type.split(";", 1)[0].strip().lower()
    return base in _JSON_TYPES or base.endswith("+json")


def decode_content(data: bytes, content_type: str) -> tuple[str, Any]:
    """(`encoding`, `content`): the parsed value for JSON, the text for UTF-8, else base64."""
    if _is_json_type(content_type):
        try:
            return "json", json.loads(data)
        except ValueError:
            pass  # mislabelled: fall through to text or base64
    try:
        return "utf-8", data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64", base64.b64encode(data).decode("ascii")


async def _fetch(api: ApiClient, key: str, *, with_metadata: bool) -> tuple[bytes, dict[str, str], JSONObject | None]:
    path = object_path(key)
    if with_metadata:
        response, metadata = await asyncio.gather(api.request("GET", path), api.get_json(path + "/metadata"))
    else:
        response, metadata = await api.request("GET", path), None
    return response.content, dict(response.headers), metadata


def _content_type(headers: dict[str, str], metadata: JSONObject | None) -> str:
    if metadata and metadata.get("content_type"):
        return str(metadata["content_type"])
    return headers.get("content-type", "application/octet-stream")


def print_object_json(state: CliState, key: str) -> None:
    """`{key, content_type, size, metadata, encoding, content}` (`GET …/{key}` and `…/{key}/metadata`)."""
    data, headers, metadata = call(state, lambda api: _fetch(api, key, with_metadata=True))
    content_type = _content_type(headers, metadata)
    encoding, content = decode_content(data, content_type)
    print_json(
        {
            "key": key,
            "content_type": content_type,
            "size": len(data),
            "metadata": metadata,
            "encoding": encoding,
            "content": content,
        }
    )


def print_object_table(state: CliState, key: str) -> None:
    """A `KEY, TYPE, SIZE, MODIFIED` panel, then the pretty JSON or the text; binary content exits 1."""
    from rich.json import JSON
    from rich.text import Text

    data, headers, _ = call(state, lambda api: _fetch(api, key, with_metadata=False))
    content_type = _content_type(headers, None)
    encoding, content = decode_content(data, content_type)
    if encoding == "base64":
        raise CliError(f"{key!r} is binary ({content_type}); use --output json or redirect the raw bytes to a file")
    modified = ""
    if headers.get("last-modified"):
        try:
            modified = format_time(parsedate_to_datetime(headers["last-modified"]))
        except (TypeError, ValueError):
            modified = headers["last-modified"]
    panel = make_panel([("KEY", key), ("TYPE", content_type), ("SIZE", format_size(len(data))), ("MODIFIED", modified)])
    body = JSON.from_data(content, indent=2) if encoding == "json" else Text(str(content))
    print_renderable(panel, body)


def _value(field: str, value: Any) -> str:
    if value is None:
        return ""
    if field.endswith("_at") and isinstance(value, str):
        return format_time(value)
    if isinstance(value, dict | list):
        return format_json_inline(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def metadata_rows(metadata: JSONObject) -> list[tuple[str, str]]:
    """One `FIELD | VALUE` row per ObjectMetadata field, then `custom.<name>` rows."""
    rows = [(field, _value(field, value)) for field, value in metadata.items() if field != "custom"]
    custom = metadata.get("custom")
    if isinstance(custom, dict):
        rows += [(f"custom.{name}", _value(name, value)) for name, value in custom.items()]
    return rows
