"""The database engine and the one-session-per-request dependency."""

from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import get_settings


def async_url(url: str) -> str:
    """Accept the plain postgres:// URLs people paste and use the asyncpg driver for them."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def make_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    # No pre-ping: it costs a round trip per request. A connection lost to a database restart
    # fails one request with a 503 (see app.errors) and is replaced.
    return create_async_engine(
        async_url(url), pool_size=pool_size, max_overflow=10, pool_recycle=1800
    )


@lru_cache
def get_engine() -> AsyncEngine:
    return make_engine(get_settings().database_url)


@lru_cache
def get_sessionmaker() -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(get_engine(), expire_on_commit=False)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with get_sessionmaker()() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": commit before the response is sent, so a 2xx always means "stored".
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
