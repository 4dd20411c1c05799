"""Account addresses are stored in lower case; a database written before holds capitals, which
one planned step lowers (refused while two accounts differ only in case)."""

from __future__ import annotations

import pytest

from backforge.schema.migrations import MigrationRefusedError, pending_changes
from backforge.spec import load_dict

ACCOUNTS = {
    "name": "accounts",
    "collections": {"users": {"auth": True, "fields": {"name": {"type": "text"}}}},
}
RENAMED = {
    "name": "accounts",
    "collections": {
        "members": {
            "renamed_from": "users",
            "auth": True,
            "fields": {"name": {"type": "text"}, "nickname": {"type": "text", "unique": True}},
        }
    },
}


def _account(migrator, number: int, email: str) -> None:
    migrator.insert("users", id=f"user{number:011d}", email=email, verified=False, admin=False)


def test_capitals_written_before_are_lowered_by_a_planned_step(migrator):
    migrator.migrate(ACCOUNTS)
    _account(migrator, 1, "Ann@Example.com")
    _account(migrator, 2, "bob@example.com")
    assert [c.op for c in pending_changes(migrator.engine, load_dict(ACCOUNTS))] == ["lower_emails"]
    plan = migrator.migrate(ACCOUNTS)
    assert [c.op for c in plan.changes] == ["lower_emails"]
    assert "1 email address(es) of users" in plan.changes[0].description
    assert not plan.destructive
    assert migrator.select("users", "email") == [("ann@example.com",), ("bob@example.com",)]
    assert migrator.plan(ACCOUNTS) is None


def test_the_step_runs_after_a_sqlite_rebuild_of_a_renamed_table(migrator):
    migrator.migrate(ACCOUNTS)
    _account(migrator, 1, "Ann@Example.com")
    plan = migrator.migrate(RENAMED)  # rename + a unique column: SQLite rebuilds the table
    assert plan.changes[-1].op == "lower_emails" and plan.changes[-1].table == "members"
    assert migrator.select("members", "email") == [("ann@example.com",)]


def test_accounts_differing_only_in_case_are_left_for_a_person_to_resolve(migrator):
    migrator.migrate(ACCOUNTS)
    _account(migrator, 1, "ann@example.com")
    _account(migrator, 2, "ANN@example.com")
    with pytest.raises(MigrationRefusedError, match=r"1 email address\(es\) of users belong"):
        migrator.plan(ACCOUNTS)
