"""The hand-written FastAPI peer, written the way the FastAPI documentation teaches.

SQLAlchemy 2 async ORM over aiosqlite, or over asyncpg when BENCH_DATABASE_URL names a
PostgreSQL database (one engine, one connection pool, a session per request as a
dependency), pydantic models for input and output, an HTTPBearer dependency that verifies
the JWT with PyJWT, and indexes for the queries it serves.

    BENCH_DB=posts.db BENCH_JWT_SECRET=... uvicorn fastapi_app:app
    BENCH_DATABASE_URL=postgresql+asyncpg://.../db BENCH_JWT_SECRET=... uvicorn fastapi_app:app
    python fastapi_app.py load posts.db dataset.json
    python fastapi_app.py load postgresql+asyncpg://.../db dataset.json
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Literal

import jwt
from fastapi import Depends, FastAPI, HTTPException, Query, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import DateTime, Index, Integer, String, Text, event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SECRET = os.environ.get("BENCH_JWT_SECRET", "")
DB_PATH = os.environ.get("BENCH_DB", "posts.db")
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL") or f"sqlite+aiosqlite:///{DB_PATH}"
Status = Literal["draft", "published", "archived"]


class Base(DeclarativeBase):
    pass


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (Index("ix_posts_status_created", "status", "created"),)

    id: Mapped[str] = mapped_column(String(15), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    views: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(DateTime, index=True)


class PostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=10_000)
    author: str = Field(default="", max_length=100)
    status: Status = "draft"
    views: int = Field(default=0, ge=0)


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    body: str
    author: str
    status: Status
    views: int
    created: datetime


class Page(BaseModel):
    items: list[PostOut]
    total: int | None = None


engine = create_async_engine(DATABASE_URL)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


if DATABASE_URL.startswith("sqlite"):
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)


SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


bearer = HTTPBearer()


def current_user(
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
) -> str:
    try:
        claims = jwt.decode(credentials.credentials, SECRET, algorithms=["HS256"])
    except jwt.InvalidTokenError as exc:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="invalid token",
            headers={"WWW-Authenticate": "Bearer"},
        ) from exc
    return claims["sub"]


SessionDep = Annotated[AsyncSession, Depends(get_session)]
UserDep = Annotated[str, Depends(current_user)]
app = FastAPI(title="posts")


@app.get("/posts", response_model=Page)
async def list_posts(
    session: SessionDep,
    user: UserDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    status: Status | None = None,
    views_gt: int | None = None,
    total: bool = False,
) -> Page:
    conditions = []
    if status is not None:
        conditions.append(Post.status == status)
    if views_gt is not None:
        conditions.append(Post.views > views_gt)
    query = select(Post).where(*conditions).order_by(Post.created.desc()).limit(limit)
    items = (await session.scalars(query)).all()
    count = None
    if total:
        count = await session.scalar(select(func.count()).select_from(Post).where(*conditions))
    return Page(items=[PostOut.model_validate(p) for p in items], total=count)


@app.get("/posts/{post_id}", response_model=PostOut)
async def get_post(post_id: str, session: SessionDep, user: UserDep) -> Post:
    post = await session.get(Post, post_id)
    if post is None:
        raise HTTPException(status_code=404, detail="post not found")
    return post


@app.post("/posts", response_model=PostOut, status_code=201)
async def create_post(data: PostIn, session: SessionDep, user: UserDep) -> Post:
    post = Post(
        **data.model_dump(),
        id=secrets.token_hex(8)[:15],
        created=datetime.now(UTC).replace(tzinfo=None),
    )
    session.add(post)
    await session.commit()
    return post


def _posts(data_path: str) -> list[dict]:
    import json

    with open(data_path) as f:
        posts = json.load(f)
    for p in posts:
        p["created"] = datetime.fromisoformat(p["created"]).replace(tzinfo=None)
    return posts


async def load_postgres(url: str, data_path: str) -> None:
    """Make the schema afresh and insert the data set (every round starts from it)."""
    from sqlalchemy import insert

    target = create_async_engine(url)
    async with target.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
        await conn.execute(insert(Post), _posts(data_path))
    await target.dispose()


def load(db_path: str, data_path: str) -> None:
    """Create the schema and bulk-insert the data set (synchronously, once)."""
    from sqlalchemy import create_engine, insert

    if db_path.startswith("postgresql"):
        import asyncio

        asyncio.run(load_postgres(db_path, data_path))
        return
    sync_engine = create_engine(f"sqlite:///{db_path}")
    Base.metadata.create_all(sync_engine)
    posts = _posts(data_path)
    with sync_engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.execute(insert(Post), posts)
    sync_engine.dispose()


if __name__ == "__main__" and sys.argv[1:2] == ["load"]:
    load(sys.argv[2], sys.argv[3])
