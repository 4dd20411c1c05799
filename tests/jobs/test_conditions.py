"""`when:` on jobs and webhooks: a write queues the entry only when the condition holds, judged
on the record after the write and `old.<field>` before it, inside the write's transaction."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from backforge.cli import app
from backforge.store.hooks import SYSTEM

from .conftest import COLLECTIONS

TASKS = {
    **COLLECTIONS,
    "people": {"fields": {"name": {"type": "text"}}},
    "tasks": {
        "fields": {
            "title": {"type": "text"},
            "status": {"type": "select", "values": ["open", "done"], "default": "open"},
            "priority": {"type": "int"},
            "cost": {"type": "decimal", "max_digits": 10, "decimal_places": 2},
            "due": {"type": "datetime"},
            "assignee": {"type": "relation", "to": "people"},
        }
    },
}
HANDLER = "job_hooks.beat"
WEBHOOK = {"url_env": "TEST_TASKS_HOOK_URL", "secret_env": "TEST_TASKS_HOOK_SECRET"}
ENV = {"TEST_TASKS_HOOK_URL": "http://127.0.0.1:9/hook", "TEST_TASKS_HOOK_SECRET": "s" * 24}


def _queued(project) -> list[str]:
    return sorted(job["name"] for job in project.jobs())


def test_entries_are_queued_only_for_the_writes_their_condition_admits(db_url, project):
    tasks = project(
        collections=TASKS,
        database=db_url,
        env=ENV,
        jobs={
            "urgent": {"on": "tasks.create", "handler": HANDLER, "when": "priority >= 3"},
            "dearer": {"on": "tasks.update", "handler": HANDLER, "when": "cost > old.cost"},
            "to_ann": {
                "on": "tasks.update",
                "handler": HANDLER,
                "when": 'assignee.name = "Ann" && old.assignee = null',
            },
            "done_removed": {"on": "tasks.delete", "handler": HANDLER, "when": 'status = "done"'},
            "late_removed": {
                "on": "tasks.delete",
                "handler": HANDLER,
                "when": 'due > "2030-01-01T00:00:00Z" && cost >= 1',
            },
            "reprioritised": {
                "on": "tasks.update",
                "handler": HANDLER,
                "when": "priority != old.priority",
            },
            "late": {
                "on": "tasks.update",
                "handler": HANDLER,
                "when": 'due > "2030-01-01T00:00:00Z" && old.due != due',
            },
        },
        webhooks={
            "reassigned": {"on": "tasks.update", "when": "assignee != old.assignee", **WEBHOOK}
        },
    )
    store = tasks.store
    ann = store.create("people", SYSTEM, {"name": "Ann"})
    bob = store.create("people", SYSTEM, {"name": "Bob"})

    low = store.create("tasks", SYSTEM, {"title": "low", "priority": 1, "cost": "5.00"})
    assert _queued(tasks) == []
    store.create("tasks", SYSTEM, {"title": "high", "priority": 3})
    assert _queued(tasks) == ["urgent"]

    store.update("tasks", SYSTEM, low["id"], {"title": "renamed"})  # nothing judged changes
    assert _queued(tasks) == ["urgent"]
    store.update("tasks", SYSTEM, low["id"], {"cost": "4.50"})  # cheaper: not dearer
    store.update("tasks", SYSTEM, low["id"], {"cost": "12.00"})
    assert _queued(tasks) == ["dearer", "urgent"]

    store.update("tasks", SYSTEM, low["id"], {"assignee": bob["id"]})  # to Bob: reassigned only
    assert _queued(tasks) == ["dearer", "reassigned", "urgent"]
    store.update("tasks", SYSTEM, low["id"], {"assignee": ann["id"]})  # had one: not to_ann
    store.update("tasks", SYSTEM, low["id"], {"assignee": ann["id"]})  # unchanged: nothing
    fresh = store.create("tasks", SYSTEM, {"title": "fresh"})
    store.update("tasks", SYSTEM, fresh["id"], {"assignee": ann["id"]})
    assert _queued(tasks) == [
        "dearer",
        "reassigned",
        "reassigned",
        "reassigned",
        "to_ann",
        "urgent",
    ]

    store.update("tasks", SYSTEM, fresh["id"], {"due": "2031-05-01T12:00:00Z"})
    store.update("tasks", SYSTEM, fresh["id"], {"due": "2031-05-01T12:00:00Z"})  # not changed
    store.update("tasks", SYSTEM, low["id"], {"due": "2029-05-01T12:00:00Z"})  # not late
    assert _queued(tasks).count("late") == 1

    # An increment is judged on its change too: by 0 changes nothing.
    store.increment("tasks", SYSTEM, low["id"], "priority", 0)
    assert "reprioritised" not in _queued(tasks)
    store.increment("tasks", SYSTEM, low["id"], "priority", 2)
    assert _queued(tasks).count("reprioritised") == 1

    store.delete("tasks", SYSTEM, low["id"])  # open: not done_removed; due 2029: not late
    store.update("tasks", SYSTEM, fresh["id"], {"status": "done", "cost": "3.00"})
    store.delete("tasks", SYSTEM, fresh["id"])  # done, due 2031, cost 3
    assert _queued(tasks).count("done_removed") == 1
    assert _queued(tasks).count("late_removed") == 1


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"on": "tasks.update", "when": "old.nope != null"}, "old.<field> with a field of tasks"),
        ({"on": "tasks.update", "when": "nope = 1"}, "unknown field 'nope'"),
        ({"on": "tasks.update", "when": "priority = 'high'"}, "compare it with a number"),
        ({"when": "priority > 1"}, "add `on:`"),
        ({"on": "tasks.update", "when": "old.pin != null"}, "old.<field> with a field of tasks"),
        ({"on": "tasks.update", "when": "pin != null"}, "'pin'"),
    ],
)
def test_a_condition_that_cannot_be_judged_is_refused_with_its_line(tmp_path, entry, message):
    (tmp_path / "job_hooks.py").write_text("def beat(ctx): ...\n")
    declaration = tmp_path / "tasks.yaml"
    lines = [
        "name: tasks",
        "hooks: job_hooks.py",
        "collections:",
        "  tasks: {fields: {priority: {type: int}, pin: {type: text, hidden: true}}}",
        "jobs:",
        "  judged:",
        "    handler: job_hooks.beat",
        *(f"    {key}: {value!r}" for key, value in entry.items()),
    ]
    declaration.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(app, ["check", str(declaration)])
    assert result.exit_code == 1, result.output
    assert "jobs.judged.when" in result.output and message in result.output
    assert f"{declaration}:{lines.index(next(x for x in lines if 'when' in x)) + 1}:" in (
        result.output
    )
