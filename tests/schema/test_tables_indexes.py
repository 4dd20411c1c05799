"""Declared indexes end with id, so that a filtered page sorted by one reads in index order."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from backforge.schema.tables import build_metadata
from backforge.spec import load_dict


def test_declared_indexes_end_with_id_once_and_never_repeat_the_default(tmp_path):
    spec = load_dict(
        {
            "name": "shop",
            "collections": {
                "items": {
                    "fields": {
                        "status": {"type": "select", "values": ["a", "b"]},
                        "title": {"type": "text"},
                    },
                    "indexes": [["status", "created"], ["created"], ["title", "id"]],
                }
            },
        }
    )
    engine = create_engine(f"sqlite:///{tmp_path / 'indexes.db'}")
    build_metadata(spec).create_all(engine)  # a repeated index name would fail here
    indexes = inspect(engine).get_indexes("items")
    assert sorted(tuple(index["column_names"]) for index in indexes) == [
        ("created", "id"),  # the default order's, also what [created] asks for
        ("status", "created", "id"),
        ("title", "id"),
    ]
    engine.dispose()
