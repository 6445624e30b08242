"""Dialect-neutral snapshots of a table schema, to compare migrations, models and the schema doc.

Names of indexes and constraints are ignored (dialects and models name them differently); what
counts is each column's type kind, length and nullability, the primary key, the indexed column
lists and the column sets that must be unique (whether by constraint or unique index).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    CHAR,
    JSON,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    inspect,
)
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeEngine

__all__ = ("ColumnShape", "TableShape", "metadata_shapes", "reflect_shapes", "type_kind")


@dataclass(frozen=True, slots=True)
class ColumnShape:
    """One column: type kind (`string`, `text`, `integer`, `float`, `boolean`, `datetime`, `json`)."""

    kind: str
    length: int | None
    nullable: bool


@dataclass(frozen=True, slots=True)
class TableShape:
    """One table, reduced to what must match across dialects and models."""

    columns: dict[str, ColumnShape]
    primary_key: tuple[str, ...]
    indexes: frozenset[tuple[str, ...]] = field(default_factory=frozenset)
    """Column lists of non-unique indexes."""
    unique: frozenset[tuple[str, ...]] = field(default_factory=frozenset)
    """Column lists that are unique (constraint or unique index)."""


def type_kind(type_: TypeEngine[Any]) -> tuple[str, int | None]:
    """`(kind, length)` of a SQLAlchemy type, reflected or declared (TypeDecorators unwrapped)."""
    while isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    # Order matters: Text is a String, and both Float and Integer could be numeric.
    checks: tuple[tuple[type[TypeEngine[Any]], str], ...] = (
        (Uuid, "uuid"),
        (LargeBinary, "binary"),
        (Boolean, "boolean"),
        (Integer, "integer"),
        (Float, "float"),
        (DateTime, "datetime"),
        (JSON, "json"),
        (Text, "text"),
    )
    for cls, kind in checks:
        if isinstance(type_, cls):
            return kind, None
    if isinstance(type_, String):
        return "string", type_.length
    return type(type_).__name__.lower(), None


def _table_shape(table: Table) -> TableShape:
    columns = {
        column.name: ColumnShape(*type_kind(column.type), nullable=bool(column.nullable)) for column in table.columns
    }
    indexes: set[tuple[str, ...]] = set()
    unique: set[tuple[str, ...]] = set()
    for index in table.indexes:
        assert isinstance(index, Index)
        names = tuple(column.name for column in index.columns)
        (unique if index.unique else indexes).add(names)
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            unique.add(tuple(column.name for column in constraint.columns))
    return TableShape(
        columns=columns,
        primary_key=tuple(column.name for column in table.primary_key.columns),
        indexes=frozenset(indexes),
        unique=frozenset(unique),
    )


def metadata_shapes(metadata: MetaData) -> dict[str, TableShape]:
    """Shapes of every table declared in `metadata` (e.g. `Base.metadata`)."""
    return {name: _table_shape(table) for name, table in metadata.tables.items()}


def _reflected_kind(type_: TypeEngine[Any], sqlite: bool) -> tuple[str, int | None]:
    # SQLAlchemy's `Uuid` is CHAR(32) on SQLite, which reflects as such; the schema uses no other CHAR(32).
    if sqlite and isinstance(type_, CHAR) and type_.length == 32:
        return "uuid", None
    return type_kind(type_)


def reflect_shapes(connection: Connection, *, exclude: tuple[str, ...] = ("alembic_version",)) -> dict[str, TableShape]:
    """Shapes of every table in the connection's default schema (use with `run_sync`)."""
    inspector = inspect(connection)
    sqlite = connection.dialect.name == "sqlite"
    shapes: dict[str, TableShape] = {}
    for name in inspector.get_table_names():
        if name in exclude:
            continue
        columns = {
            column["name"]: ColumnShape(*_reflected_kind(column["type"], sqlite), nullable=bool(column["nullable"]))
            for column in inspector.get_columns(name)
        }
        indexes: set[tuple[str, ...]] = set()
        unique: set[tuple[str, ...]] = set()
        for index in inspector.get_indexes(name):
            if index.get("duplicates_constraint"):
                continue
            names = tuple(str(column) for column in index["column_names"])
            (unique if index["unique"] else indexes).add(names)
        for constraint in inspector.get_unique_constraints(name):
            unique.add(tuple(constraint["column_names"]))
        primary_key = tuple(inspector.get_pk_constraint(name)["constrained_columns"])
        shapes[name] = TableShape(
            columns=columns, primary_key=primary_key, indexes=frozenset(indexes), unique=frozenset(unique)
        )
    return shapes
