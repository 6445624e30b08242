"""Sessions with database errors translated into factflow errors."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from factflow_infra.database import translate_database_errors

__all__ = ("Page", "session_scope")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of an offset-paged query (docs/reference/http-api.md)."""

    items: tuple[T, ...]
    total: int
    """Matches over all pages."""
    limit: int
    offset: int

    @property
    def has_more(self) -> bool:
        """`offset + len(items) < total`."""
        return self.offset + len(self.items) < self.total


@contextlib.asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in one transaction, committed on success.

    Driver and SQLAlchemy errors become factflow errors: outages `DatabaseUnavailableError`
    (a `ServiceUnavailableError` with code `database_unavailable`), constraint violations
    `DatabaseIntegrityError`.
    """
    with translate_database_errors():
        async with factory() as session, session.begin():
            yield session
