"""Rules that name only what a caller is (auth.id, auth.collection) fold to true or false once
per caller; a verdict never carries over to another caller."""

from __future__ import annotations

import pytest

from backforge.database import create_database_engine
from backforge.spec.loader import load_text
from backforge.store.caller import Caller
from backforge.store.errors import Forbidden
from backforge.store.listing import ListRequest
from backforge.store.records import RecordStore

DECLARATION = """
name: folding
collections:
  members:
    auth: {}
    fields: {}
  guests:
    auth: {}
    fields: {}
  notes:
    fields:
      title: {type: text, required: true}
    rules:
      create: auth.collection = "members" && auth.id != null
      list: public
      view: public
"""


@pytest.fixture
def store(sqlite_url):
    engine = create_database_engine(sqlite_url)
    store = RecordStore(load_text(DECLARATION), engine)
    store.metadata.create_all(engine)
    yield store
    engine.dispose()


def test_a_folded_create_rule_is_judged_for_each_caller(store):
    member = Caller(id="m" * 15, collection="members")
    guest = Caller(id="m" * 15, collection="guests")  # the same id in another collection
    assert ("notes", "create") in store.access._caller_only
    for _ in range(2):  # the second round answers from the folded verdicts
        assert store.create("notes", member, {"title": "mine"})["title"] == "mine"
        with pytest.raises(Forbidden):
            store.create("notes", guest, {"title": "theirs"})
        with pytest.raises(Forbidden):
            store.create("notes", Caller(), {"title": "nobody's"})
    titles = [item["title"] for item in store.list("notes", member, _all()).items]
    assert titles == ["mine", "mine"]


def _all() -> ListRequest:
    return ListRequest(sort="created")
