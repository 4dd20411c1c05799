"""Collections that refer to each other (issue 25): `users.team -> teams` with `teams.owner ->
users`, and `users.manager -> users`. Their tables are created first and the foreign keys of the
cycle added after (PostgreSQL), or written in CREATE TABLE (SQLite, which checks no target then);
no SQLAlchemy cycle warning; dropping them works too."""

from __future__ import annotations

import warnings

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError, SAWarning

from backforge.schema.migrations import pending_changes
from backforge.schema.tables import build_metadata
from backforge.spec import load_dict

CYCLE = {
    "name": "org",
    "collections": {
        "users": {
            "fields": {
                "name": {"type": "text"},
                "team": {"type": "relation", "to": "teams"},
                "manager": {"type": "relation", "to": "users", "on_delete": "set null"},
            }
        },
        "teams": {"fields": {"owner": {"type": "relation", "to": "users"}}},
        "notes": {"fields": {"team": {"type": "relation", "to": "teams"}}},
    },
}
SELF_ONLY = {
    "name": "org",
    "collections": {
        "users": {"fields": {"manager": {"type": "relation", "to": "users"}}},
    },
}


@pytest.fixture(autouse=True)
def _no_cycle_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", SAWarning)
        yield


def _links(migrator, table: str) -> set[tuple[str, str]]:
    with migrator.engine.connect() as connection:
        return {
            (fk["constrained_columns"][0], fk["referred_table"])
            for fk in inspect(connection).get_foreign_keys(table)
        }


def test_a_cycle_and_a_self_reference_are_planned_and_applied(migrator):
    plan = migrator.migrate(CYCLE)
    ops = [(c.op, c.table, c.column) for c in plan.changes]
    creates = [table for op, table, _ in ops if op == "create_table"]
    assert sorted(creates) == ["notes", "teams", "users"]
    assert creates.index("teams") < creates.index("notes")  # outside the cycle: in order
    links = [(table, column) for op, table, column in ops if op == "add_foreign_key"]
    assert sorted(links) == [("teams", "owner"), ("users", "team")]
    assert all(ops.index(("add_foreign_key", *link)) > len(creates) - 1 for link in links)
    by_op = {(c.op, c.table, c.column): c.sql for c in plan.changes}
    assert by_op[("add_foreign_key", "users", "team")]["sqlite"] == []
    assert by_op[("add_foreign_key", "users", "team")]["postgresql"] == [
        "ALTER TABLE users ADD CONSTRAINT fk_users_team_teams FOREIGN KEY(team) "
        "REFERENCES teams (id) ON DELETE RESTRICT"
    ]
    assert _links(migrator, "users") == {("team", "teams"), ("manager", "users")}
    assert _links(migrator, "teams") == {("owner", "users")}
    assert migrator.plan(CYCLE) is None
    assert pending_changes(migrator.engine, load_dict(CYCLE)) == []
    # The foreign keys hold.
    with pytest.raises(IntegrityError):
        migrator.insert("users", id="u" * 15, team="nosuchteam00000")


def test_a_self_reference_alone_is_created_inline(migrator):
    plan = migrator.migrate(SELF_ONLY)
    assert [c.op for c in plan.changes] == ["create_table"]
    assert _links(migrator, "users") == {("manager", "users")}
    migrator.insert("users", id="a" * 15)
    migrator.insert("users", id="b" * 15, manager="a" * 15)
    assert migrator.plan(SELF_ONLY) is None


def test_a_cycle_formed_between_existing_collections(migrator):
    apart = load_dict(CYCLE).model_dump()
    del apart["collections"]["users"]["fields"]["team"]
    del apart["collections"]["teams"]["fields"]["owner"]
    migrator.migrate(apart)
    migrator.migrate(CYCLE)
    assert _links(migrator, "teams") == {("owner", "users")}
    assert ("team", "teams") in _links(migrator, "users")
    assert migrator.plan(CYCLE) is None


def test_collections_that_refer_to_each_other_can_be_dropped(migrator):
    migrator.migrate(CYCLE)
    migrator.insert("users", id="a" * 15)
    migrator.insert("teams", id="t" * 15, owner="a" * 15)
    rest = {"name": "org", "collections": {"other": {"fields": {"text": {"type": "text"}}}}}
    plan = migrator.migrate(rest, allow_destructive=True)
    assert next(c.table for c in plan.changes if c.op == "drop_table") == "notes"  # in order
    assert {c.table for c in plan.changes if c.op == "drop_table"} == {"notes", "teams", "users"}
    assert not {"users", "teams", "notes"} & migrator.tables()


def test_create_all_makes_the_cycle_on_both_databases(db_engine):
    metadata = build_metadata(load_dict(CYCLE))
    assert metadata.tables["users"].c.team.foreign_keys.pop().use_alter
    assert not metadata.tables["users"].c.manager.foreign_keys.pop().use_alter
    metadata.create_all(db_engine)
    with db_engine.connect() as connection:
        links = {
            (fk["constrained_columns"][0], fk["referred_table"])
            for fk in inspect(connection).get_foreign_keys("teams")
        }
    assert links == {("owner", "users")}
    metadata.drop_all(db_engine)


def test_one_side_of_a_cycle_dropped_with_the_link_back_to_it(migrator):
    migrator.migrate(CYCLE)
    kept = {
        "name": "org",
        "collections": {
            "users": {
                "fields": {
                    "name": {"type": "text"},
                    "manager": {"type": "relation", "to": "users", "on_delete": "set null"},
                }
            }
        },
    }
    plan = migrator.migrate(kept, allow_destructive=True)
    unlinks = [c for c in plan.changes if c.op == "drop_foreign_key"]
    assert [(c.table, c.details["name"]) for c in unlinks] == [("users", "fk_users_team_teams")]
    assert migrator.tables() & {"users", "teams", "notes"} == {"users"}
    assert _links(migrator, "users") == {("manager", "users")}
    assert migrator.plan(kept) is None
