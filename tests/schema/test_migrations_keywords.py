"""Collections and fields named like SQL keywords migrate like any other."""

from __future__ import annotations

import copy

KEYWORDS = {
    "name": "keywords",
    "collections": {
        "user": {"fields": {"group": {"type": "text"}}},
        "order": {
            "fields": {
                "select": {"type": "select", "values": ["a", "b"], "default": "a"},
                "user": {"type": "relation", "to": "user"},
                "limit": {"type": "int"},
            },
            "indexes": [["select", "limit"]],
        },
    },
}


def test_keyword_names_through_every_kind_of_change(migrator):
    migrator.migrate(KEYWORDS)
    migrator.insert("user", id="u1", group="g")
    migrator.insert("order", id="o1", select="b", user="u1", limit=3)
    changed = copy.deepcopy(KEYWORDS)
    collections = changed["collections"]
    collections["table"] = {**collections.pop("order"), "renamed_from": "order"}
    fields = collections["table"]["fields"]
    fields["where"] = {
        **fields.pop("limit"),
        "renamed_from": "limit",
        "required": True,
        "default": 0,
    }
    fields["select"]["values"] = ["a", "c"]
    collections["table"]["indexes"] = [["select", "where"]]
    migrator.migrate(changed, allow_destructive=True)
    assert migrator.select("table", "id", "select", "user", "where") == [("o1", "a", "u1", 3)]
    assert migrator.plan(changed) is None
