"""PostgreSQL from the event loop (store/postgres_loop.py): requests share a fixed pool of
asyncpg connections on one loop, totals are kept per database snapshot whoever writes, and a
URL asyncpg cannot take keeps the store on psycopg in worker threads."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from backforge import App
from backforge.database import create_database_engine
from backforge.store.postgres_loop import asyncpg_connection

ADMIN_TOKEN = "loop-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NOTES = {
    "name": "loopnotes",
    "collections": {
        "notes": {
            "fields": {"title": {"type": "text", "required": True}, "n": {"type": "int"}},
            "rules": {"list": "true", "view": "true", "create": "true"},
        }
    },
}


def _app(url: str) -> App:
    engine = create_database_engine(url)
    app = App.from_dict(NOTES, engine, admin_token=ADMIN_TOKEN)
    app.store.metadata.create_all(engine)
    return app


def _libpq(url: str) -> str:
    """The test URL for psycopg itself (search_path and application name kept)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _on_one_loop(app: App, work):
    """Run `work(client)` with every request on one event loop, as a served process does."""

    async def main():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await work(client)

    return asyncio.run(main())


@pytest.mark.postgres
def test_concurrent_requests_share_a_small_pool(postgres_url, monkeypatch):
    monkeypatch.setenv("BACKFORGE_DATABASE__POOL_SIZE", "2")
    app = _app(postgres_url)

    async def work(client):
        created = await asyncio.gather(
            *(client.post("/api/notes", json={"title": f"t{i}", "n": i}) for i in range(30))
        )
        assert [r.status_code for r in created] == [201] * 30
        ids = [r.json()["id"] for r in created]
        got = await asyncio.gather(*(client.get(f"/api/notes/{i}") for i in ids))
        assert sorted(r.json()["n"] for r in got) == list(range(30))
        page = await client.get("/api/notes?total=true&limit=5&sort=n")
        return page.json()

    page = _on_one_loop(app, work)
    assert page["total"] == 30
    assert [item["n"] for item in page["items"]] == [0, 1, 2, 3, 4]
    assert app.store.loop is not None and app.store.loop.pool.pool_size == 2


@pytest.mark.postgres
def test_totals_follow_writes_made_outside_backforge(postgres_url):
    app = _app(postgres_url)
    outside = psycopg.connect(_libpq(postgres_url))

    async def work(client):
        totals = []

        async def total():
            response = await client.get("/api/notes?total=true", headers=ADMIN)
            totals.append(response.json()["total"])

        await client.post("/api/notes", json={"title": "a"})
        await total()
        await total()  # answered from what was counted
        outside.execute(
            "INSERT INTO notes (id, title, created, updated, version) "
            "VALUES ('outside00000001', 'b', now(), now(), 1)"
        )
        await total()  # not committed yet: still 1
        outside.commit()
        await total()  # another client's commit: counted again
        outside.execute("DELETE FROM notes")
        outside.commit()
        await total()
        return totals

    try:
        assert _on_one_loop(app, work) == [1, 1, 1, 2, 0]
    finally:
        outside.close()


@pytest.mark.postgres
def test_a_request_waiting_past_the_pool_timeout_gets_503(postgres_url, monkeypatch):
    monkeypatch.setenv("BACKFORGE_DATABASE__POOL_SIZE", "1")
    monkeypatch.setenv("BACKFORGE_DATABASE__POOL_TIMEOUT", "0.5")
    app = _app(postgres_url)
    locker = psycopg.connect(_libpq(postgres_url))

    async def work(client):
        await client.post("/api/notes", json={"title": "kept"})
        locker.execute("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE")
        # The first read waits on the lock holding the only connection; the second waits
        # for that connection until the pool's timeout.
        first = asyncio.create_task(client.get("/api/notes"))
        await asyncio.sleep(0.2)
        second = await client.get("/api/notes")
        locker.rollback()
        return await first, second

    try:
        first, second = _on_one_loop(app, work)
    finally:
        locker.close()
    assert second.status_code == 503
    assert second.headers["content-type"] == "application/problem+json"
    assert second.headers["retry-after"] == "1"
    assert "busy" in second.json()["detail"]
    assert first.status_code == 200 and first.json()["items"][0]["title"] == "kept"


@pytest.mark.postgres
def test_a_read_cancelled_mid_statement_gives_its_place_back(postgres_url, monkeypatch):
    monkeypatch.setenv("BACKFORGE_DATABASE__POOL_SIZE", "1")
    monkeypatch.setenv("BACKFORGE_DATABASE__POOL_TIMEOUT", "5")
    app = _app(postgres_url)
    locker = psycopg.connect(_libpq(postgres_url))

    async def work(client):
        await client.post("/api/notes", json={"title": "kept"})
        locker.execute("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE")
        stuck = asyncio.create_task(client.get("/api/notes"))  # holds the only connection
        await asyncio.sleep(0.3)
        stuck.cancel()  # as when its client goes away: the connection may be mid-statement
        with contextlib.suppress(asyncio.CancelledError):
            await stuck
        locker.rollback()
        return [(await client.get("/api/notes")).status_code for _ in range(3)]

    try:
        assert _on_one_loop(app, work) == [200, 200, 200]
    finally:
        locker.close()


CODES = {
    "name": "loopcodes",
    "collections": {
        "codes": {
            "fields": {"code": {"type": "text", "unique": True}, "n": {"type": "int"}},
            "rules": {"list": "true", "view": "true", "create": "true"},
        }
    },
}


@pytest.fixture
def sent_by_asyncpg(monkeypatch):
    """The statements asyncpg's `Connection.execute` sends: BEGIN and COMMIT go through it, as
    does a write run on the driver as a statement of its own."""
    sent: list[str] = []
    execute = asyncpg.Connection.execute

    async def recording(self, query, *args, **kwargs):
        sent.append(query.split()[0].rstrip(";").upper())
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "execute", recording)
    return sent


def _codes(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(_libpq(url)) as outside:
        return outside.execute("SELECT code, n FROM codes ORDER BY n").fetchall()


@pytest.mark.postgres
def test_a_create_of_one_statement_commits_by_itself_and_others_keep_their_transaction(
    postgres_url, sent_by_asyncpg
):
    engine = create_database_engine(postgres_url)
    app = App.from_dict(CODES, engine, admin_token=ADMIN_TOKEN)
    app.store.metadata.create_all(engine)

    async def work(client):
        await client.post("/api/codes", json={"code": "a", "n": 1})  # connects the pool
        sent_by_asyncpg.clear()
        one = await client.post("/api/codes", json={"code": "b", "n": 2})
        alone = list(sent_by_asyncpg)
        again = await client.post("/api/codes", json={"code": "a", "n": 3})
        batch = await client.post(
            "/api/batch",
            json={
                "operations": [
                    {"op": "create", "collection": "codes", "body": {"code": "c", "n": 4}},
                    {"op": "create", "collection": "codes", "body": {"code": "a", "n": 5}},
                ]
            },
            headers=ADMIN,
        )
        in_batch = list(sent_by_asyncpg)

        # An after-create hook runs after the INSERT: the create keeps its transaction, and
        # a hook that fails takes the record back with it.
        @app.store.hooks.after_create("codes")
        def fail(_ctx):
            raise RuntimeError("the after-create hook failed")

        sent_by_asyncpg.clear()
        hooked = await client.post("/api/codes", json={"code": "d", "n": 6})
        return one, alone, again, batch, in_batch, hooked

    one, alone, again, batch, in_batch, hooked = _on_one_loop(app, work)
    assert one.status_code == 201 and one.json()["code"] == "b"
    assert alone == ["INSERT"]  # no BEGIN, no COMMIT: one statement, committed by itself
    # The unique violation of a statement on its own is a conflict naming the field.
    assert again.status_code == 409 and again.json()["field"] == "code"
    # Inside the batch's transaction the first create is undone with the second.
    assert batch.status_code == 409 and batch.json()["index"] == 1
    assert in_batch[-2:] == ["BEGIN", "ROLLBACK"]
    assert hooked.status_code == 500 and sent_by_asyncpg == ["BEGIN", "ROLLBACK"]
    assert _codes(postgres_url) == [("a", 1), ("b", 2)]


@pytest.mark.postgres
def test_a_url_asyncpg_cannot_take_keeps_psycopg_in_threads(postgres_url):
    url = make_url(postgres_url).update_query_dict({"target_session_attrs": "any"})
    app = _app(url.render_as_string(hide_password=False))
    assert app.store.loop is None

    async def work(client):
        created = await client.post("/api/notes", json={"title": "threads"})
        listed = await client.get("/api/notes?total=true")
        return created, listed

    created, listed = _on_one_loop(app, work)
    assert created.status_code == 201
    assert listed.json()["total"] == 1


def test_libpq_parameters_become_asyncpg_arguments():
    url = make_url(
        "postgresql+psycopg://u:p@db.example:6543/app?sslmode=require&connect_timeout=4"
        "&application_name=api&options=-csearch_path%3Dtenant_1%20-c%20statement_timeout%3D5s"
    )
    found = asyncpg_connection(url)
    assert found is not None
    asyncpg_url, arguments = found
    assert asyncpg_url.drivername == "postgresql+asyncpg"
    assert (asyncpg_url.host, asyncpg_url.port, asyncpg_url.database) == ("db.example", 6543, "app")
    assert asyncpg_url.password == "p" and not asyncpg_url.query
    assert arguments == {
        "ssl": "require",
        "timeout": 4.0,
        "server_settings": {
            "application_name": "api",
            "search_path": "tenant_1",
            "statement_timeout": "5s",
        },
    }


@pytest.mark.parametrize(
    "query",
    [
        "target_session_attrs=read-write",  # not an asyncpg argument
        "options=--search_path%3Dx",  # not a -c setting
        "options=-c%20novalue",
        "host=a&host=b",  # several values
        "connect_timeout=soon",
        "options=-c%20search_path%3D%27unbalanced",
    ],
)
def test_parameters_asyncpg_cannot_take_are_not_guessed(query):
    assert asyncpg_connection(make_url(f"postgresql+psycopg://u@h/db?{query}")) is None
