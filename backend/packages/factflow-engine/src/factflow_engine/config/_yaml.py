"""Safe YAML 1.2 parsing with a position map (docs/reference/pipeline-yaml.md, E001–E008).

ruamel.yaml only scans and parses: the node graph and the Python values are built here from
its events, so that the rules of §1 are ours — core-schema scalars (`yes`/`on` stay strings),
no tags beyond the core ones, duplicate keys reported where they occur, `<<` merges, and
aliases counted as expanded so that an alias bomb stops at the node limit instead of
exhausting memory.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml import events as ev
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.reader import ReaderError

from ._issues import ValidationIssue
from ._positions import PositionMap
from ._text import show

__all__ = ("MAX_DEPTH", "MAX_DOCUMENT_BYTES", "MAX_NODES", "ParsedDocument", "parse_document")

MAX_DOCUMENT_BYTES = 1024 * 1024
"""Largest accepted file, in bytes (E008)."""
MAX_NODES = 100_000
"""Most nodes a document may expand to, aliases counted as expanded (E008)."""
MAX_DEPTH = 200
"""Deepest nesting of mappings and lists; guards the recursive checks that follow (E008)."""

_CORE = "tag:yaml.org,2002:"
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")

_SIZE_SUGGESTION = "Shrink the file or its alias expansion."


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """A parsed pipeline file: its root value and where each path is written."""

    value: Any
    """The root value (a dict for a usable document)."""
    positions: PositionMap
    """Path → 1-based (line, column)."""


class _Abort(Exception):
    """Stops parsing with one document-level issue."""

    def __init__(self, issue: ValidationIssue) -> None:
        super().__init__(issue.message)
        self.issue = issue


def _error(
    code: str, message: str, suggestion: str, *, path: str = "", line: int | None = None, col: int | None = None
) -> ValidationIssue:
    return ValidationIssue("error", code, path, message, suggestion, line, col)


@dataclass(eq=False, slots=True)
class _Node:
    kind: Literal["scalar", "map", "seq", "alias"]
    line: int
    column: int
    tag: str | None = None
    text: str = ""
    plain: bool = False
    """A plain scalar without an explicit tag: resolved by the core schema."""
    items: list[Any] = field(default_factory=list)
    """`seq`: the item nodes; `map`: key and value nodes, alternating."""
    target: _Node | None = None
    """`alias`: the anchored node."""


def _shorthand(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


def _decode(text: str | bytes) -> str:
    if isinstance(text, bytes):
        size = len(text)
        if size > MAX_DOCUMENT_BYTES:
            raise _Abort(_too_big(size))
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = text[exc.start : exc.start + 1].hex()
            line = text.count(b"\n", 0, exc.start) + 1
            col = exc.start - (text.rfind(b"\n", 0, exc.start) + 1) + 1
            message = f"The file is not UTF-8 (byte 0x{bad} at line {line}, column {col})."
            raise _Abort(_error("E007", message, "Save the file as UTF-8.", line=line, col=col)) from None
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise _Abort(
                _error(
                    "E007",
                    f"The text holds a character UTF-8 cannot encode at offset {exc.start}.",
                    "Save the file as UTF-8.",
                )
            ) from None
        if size > MAX_DOCUMENT_BYTES:
            raise _Abort(_too_big(size))
        decoded = text
    return decoded[1:] if decoded.startswith("\ufeff") else decoded


def _too_big(size: int) -> ValidationIssue:
    return _error(
        "E008", f"The file is {size} bytes; the limit is {MAX_DOCUMENT_BYTES} bytes (1 MiB).", _SIZE_SUGGESTION
    )


def _mark(event: ev.Event) -> tuple[int, int]:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _parse_error(exc: Exception, text: str) -> ValidationIssue:
    line: int | None = None
    col: int | None = None
    if isinstance(exc, MarkedYAMLError):
        problem = exc.problem or exc.context or "invalid YAML"
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            line, col = mark.line + 1, mark.column + 1
    elif isinstance(exc, ReaderError):
        problem = f"character {exc.character!r} is not allowed" if isinstance(exc.character, str) else exc.reason
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
    else:
        problem = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    problem = " ".join(str(problem).split())
    if line is None:
        return _error("E001", f"The YAML could not be parsed: {problem}.", f"Fix the YAML syntax ({problem}).")
    return _error(
        "E001",
        f"The YAML could not be parsed at line {line}, column {col}: {problem}.",
        f"Fix the YAML near line {line}, column {col} ({problem}).",
        line=line,
        col=col,
    )


def _syntax_error(line: int, col: int, what: str, hint: str) -> ValidationIssue:
    return _error(
        "E001",
        f"{what} (line {line}, column {col}).",
        f"Fix the YAML near line {line}, column {col} ({hint}).",
        line=line,
        col=col,
    )


class _Composer:
    """Builds the node graph of the single document; aliases share their anchored node."""

    def __init__(self) -> None:
        self.anchors: dict[str, _Node] = {}
        self.stack: list[tuple[_Node, str | None]] = []
        self.root: _Node | None = None
        self.documents = 0
        self.count = 0

    def compose(self, events: Iterator[ev.Event]) -> _Node | None:
        for event in events:
            if isinstance(event, ev.DocumentStartEvent):
                self._document(event)
            elif isinstance(event, ev.CollectionEndEvent):
                node, anchor = self.stack.pop()
                if anchor is not None:
                    self.anchors[anchor] = node
                self._attach(node)
            elif isinstance(event, ev.NodeEvent):
                self._node(event)
        return self.root

    def _document(self, event: ev.DocumentStartEvent) -> None:
        self.documents += 1
        if self.documents > 1:
            line, _ = _mark(event)
            message = "The file holds more than one YAML document."
            raise _Abort(_error("E003", message, "Keep one pipeline per file.", line=line, col=1))

    def _attach(self, node: _Node) -> None:
        if self.stack:
            self.stack[-1][0].items.append(node)
        else:
            self.root = node

    def _node(self, event: ev.NodeEvent) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            raise _Abort(_error("E008", f"The document has more than {MAX_NODES} nodes.", _SIZE_SUGGESTION))
        line, col = _mark(event)
        if isinstance(event, ev.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is None:
                what = f"The alias '*{event.anchor}' has no anchor before it"
                raise _Abort(_syntax_error(line, col, what, f"undefined alias '*{event.anchor}'"))
            self._attach(_Node("alias", line, col, target=target))
        elif isinstance(event, ev.ScalarEvent):
            tag = event.tag
            plain = tag is None and bool(event.implicit[0])
            node = _Node("scalar", line, col, tag=_explicit(tag), text=event.value, plain=plain)
            if event.anchor is not None:
                self.anchors[event.anchor] = node
            self._attach(node)
        elif isinstance(event, ev.CollectionStartEvent):
            kind: Literal["map", "seq"] = "map" if isinstance(event, ev.MappingStartEvent) else "seq"
            self.stack.append((_Node(kind, line, col, tag=_explicit(event.tag)), event.anchor))
            if len(self.stack) > MAX_DEPTH:
                message = f"The document nests deeper than {MAX_DEPTH} levels."
                raise _Abort(_error("E008", message, _SIZE_SUGGESTION))


def _explicit(tag: object) -> str | None:
    # `!` is the non-specific tag: the node keeps its ordinary kind.
    return None if tag is None or tag == "!" else str(tag)


def _resolve_plain(text: str) -> Any:
    if _NULL.match(text):
        return None
    if _BOOL.match(text):
        return text.lower() == "true"
    try:
        if _INT10.match(text):
            return int(text)
        if _INT8.match(text):
            return int(text[2:], 8)
        if _INT16.match(text):
            return int(text[2:], 16)
    except ValueError:  # more digits than int() converts; keep the text
        return text
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text


def _expanded_size(node: _Node, sizes: dict[int, int]) -> int:
    """Nodes `node` stands for once every alias is replaced by what it names (memoised per node)."""
    if node.kind == "alias":
        assert node.target is not None
        return _expanded_size(node.target, sizes)
    known = sizes.get(id(node))
    if known is None:
        known = 1 + sum(_expanded_size(item, sizes) for item in node.items)
        sizes[id(node)] = known
    return known


class _Builder:
    """Turns the node graph into Python values, recording positions and E004/E005 issues."""

    def __init__(self) -> None:
        self.positions: dict[str, tuple[int, int]] = {}
        self.issues: list[ValidationIssue] = []
        self._reported: set[tuple[int, str]] = set()
        self._expanded = 0

    def _count(self) -> None:
        self._expanded += 1
        if self._expanded > MAX_NODES:
            raise _Abort(
                _error(
                    "E008",
                    f"The document expands to more than {MAX_NODES} nodes (aliases count once per use).",
                    _SIZE_SUGGESTION,
                )
            )

    def _report_once(self, node: _Node, issue: ValidationIssue) -> None:
        # An aliased node is built once per use; report its problem once.
        key = (id(node), issue.code)
        if key not in self._reported:
            self._reported.add(key)
            self.issues.append(issue)

    def build(self, node: _Node, path: str, *, record: bool = True) -> Any:
        if record and path not in self.positions:
            self.positions[path] = (node.line, node.column)
        if node.kind == "alias":
            assert node.target is not None
            return self.build(node.target, path, record=False)
        self._count()
        if node.tag is not None:
            self._check_tag(node, path)
        if node.kind == "scalar":
            return self._scalar(node, path)
        if node.kind == "seq":
            return [self.build(item, f"{path}[{index}]") for index, item in enumerate(node.items)]
        return self._mapping(node, path)

    def _check_tag(self, node: _Node, path: str) -> None:
        assert node.tag is not None
        allowed = {"scalar": ("str", "int", "float", "bool", "null"), "map": ("map",), "seq": ("seq",)}[node.kind]
        if node.tag.startswith(_CORE) and node.tag[len(_CORE) :] in allowed:
            return
        shown = _shorthand(node.tag)
        self._report_once(
            node,
            _error(
                "E004",
                f"The tag '{shown}' is not allowed; only plain YAML values are.",
                f"Remove the '{shown}' tag.",
                path=path,
                line=node.line,
                col=node.column,
            ),
        )

    def _scalar(self, node: _Node, path: str) -> Any:
        if node.plain:
            return _resolve_plain(node.text)
        if node.tag is None or not node.tag.startswith(_CORE):
            return node.text
        wanted = node.tag[len(_CORE) :]
        if wanted == "str":
            return node.text
        value = _resolve_plain(node.text)
        fits = {
            "null": value is None,
            "bool": isinstance(value, bool),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, int | float) and not isinstance(value, bool),
        }.get(wanted, True)
        if not fits:
            self._report_once(
                node,
                _error(
                    "E001",
                    f"'{node.text}' at line {node.line}, column {node.column} is not a valid '!!{wanted}'.",
                    f"Fix the YAML near line {node.line}, column {node.column} ('{node.text}' is not a {wanted}).",
                    line=node.line,
                    col=node.column,
                ),
            )
            return node.text
        return float(value) if wanted == "float" else value

    def _key(self, node: _Node) -> str | None:
        target = node.target if node.kind == "alias" else node
        assert target is not None
        if target.kind != "scalar":
            self._report_once(
                node,
                _syntax_error(
                    node.line,
                    node.column,
                    f"A mapping key is a {'list' if target.kind == 'seq' else 'mapping'}",
                    "keys must be plain names",
                ),
            )
            return None
        return target.text

    def _mapping(self, node: _Node, path: str) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merges: list[tuple[_Node, _Node]] = []
        for key_node, value_node in zip(node.items[0::2], node.items[1::2], strict=True):
            self._count()
            if key_node.kind == "scalar" and key_node.plain and key_node.text == "<<":
                merges.append((key_node, value_node))
                continue
            key = self._key(key_node)
            if key is None:
                continue
            child = f"{path}.{key}" if path else key
            if key in result:
                self._report_once(
                    key_node,
                    _error(
                        "E005",
                        f"The key '{key}' appears twice in {path or 'the top level'} (again at line {key_node.line}).",
                        f"'{key}' appears twice; merge the entries.",
                        path=child,
                        line=key_node.line,
                        col=key_node.column,
                    ),
                )
                continue
            self.positions.setdefault(child, (key_node.line, key_node.column))
            result[key] = self.build(value_node, child, record=False)
        if len(merges) > 1:
            extra = merges[1][0]
            self.issues.append(
                _error(
                    "E005",
                    f"The merge key '<<' appears twice in {path or 'the top level'} (again at line {extra.line}).",
                    "'<<' appears twice; merge several anchors with '<<: [*a, *b]'.",
                    path=f"{path}.<<" if path else "<<",
                    line=extra.line,
                    col=extra.column,
                )
            )
        for key_node, value_node in merges[:1]:
            self._merge(result, key_node, value_node, path)
        return result

    def _merge(self, result: dict[str, Any], key_node: _Node, value_node: _Node, path: str) -> None:
        target = value_node.target if value_node.kind == "alias" else value_node
        assert target is not None
        sources = [target] if target.kind == "map" else target.items if target.kind == "seq" else []
        resolved = [item.target if item.kind == "alias" else item for item in sources]
        if not resolved or any(item is None or item.kind != "map" for item in resolved):
            self.issues.append(
                _syntax_error(
                    key_node.line,
                    key_node.column,
                    "The merge '<<' needs a mapping or a list of mappings",
                    "'<<' takes '*anchor' or '[*a, *b]'",
                )
            )
            return
        for source in resolved:
            assert source is not None
            self._count()
            merged = self._mapping(source, path)
            for key, value in merged.items():
                # Keys written in the mapping itself win, then earlier merge sources.
                result.setdefault(key, value)


def _events(text: str) -> Iterator[ev.Event]:
    yaml = YAML(typ="safe", pure=True)
    return iter(yaml.parse(text))


def parse_document(text: str | bytes) -> tuple[ParsedDocument | None, list[ValidationIssue]]:
    """Parse one pipeline file.

    Returns:
        `(document, [])` on success; `(None, issues)` when the file cannot be used, with
        E001–E008 issues (E004 and E005 at their paths, the others at `""`).
    """
    try:
        decoded = _decode(text)
        try:
            root = _Composer().compose(_events(decoded))
        except (_Abort, RecursionError):
            raise
        except Exception as exc:  # ruamel raises YAMLError subclasses, but any failure is a parse error
            return None, [_parse_error(exc, decoded)]
        if root is None or (root.kind == "scalar" and root.plain and root.text == "" and root.tag is None):
            return None, [_error("E002", "The document is empty.", "Add 'version: \"1.0\"' and a 'routes' mapping.")]
        if _expanded_size(root, {}) > MAX_NODES:
            # Checked before building, so an alias bomb costs nothing to reject.
            message = f"The document expands to more than {MAX_NODES} nodes (aliases count once per use)."
            raise _Abort(_error("E008", message, _SIZE_SUGGESTION))
        builder = _Builder()
        value = builder.build(root, "")
        if builder.issues:
            return None, builder.issues
        if not isinstance(value, dict):
            what = "a list" if isinstance(value, list) else f"the scalar {show(value)}"
            return None, [
                _error(
                    "E006",
                    f"The top level is {what}, not a mapping.",
                    "The top level must be a mapping.",
                    line=root.line,
                    col=root.column,
                )
            ]
        return ParsedDocument(value, PositionMap(builder.positions)), []
    except _Abort as abort:
        return None, [abort.issue]
    except RecursionError:
        return None, [_error("E008", "The document nests too deeply to be read.", _SIZE_SUGGESTION)]
