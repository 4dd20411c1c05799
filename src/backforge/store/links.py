"""Stored to-many relations (`relations:` without via or through): their values are lists of
ids (or of `key` values) kept in a link collection, read with a page and written with a record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field as PydanticField
from sqlalchemy import Connection, delete, insert, select

from .. import clock
from ..spec.auth_fields import ACCOUNT_EMAIL, account_email
from ..spec.model import Relation, Spec
from ..spec.relations import LINK_MEMBER, LINK_OWNER, link_collection_name
from .caller import Caller
from .errors import FieldProblem, ValidationFailed
from .ids import ID_PATTERN, new_id
from .prepared import Reader
from .validation import python_type

if TYPE_CHECKING:
    from .records import RecordStore

# Members one record may hold in one relation (a larger list is refused).
MAX_MEMBERS = 1000


class Links:
    """Reads and writes the stored relations of every collection of a store."""

    def __init__(self, store: RecordStore):
        self.store = store
        self.spec: Spec = store.spec
        # collection -> its stored relations, by name
        self.stored: dict[str, dict[str, Relation]] = {
            name: {n: r for n, r in collection.relations.items() if r.stored}
            for name, collection in store.spec.collections.items()
        }

    def of(self, collection: str) -> dict[str, Relation]:
        return self.stored[collection]

    def value_types(self, collection: str) -> dict[str, Any]:
        """What a body may hold for each stored relation: a list of ids, or of key values."""
        types: dict[str, Any] = {}
        for name, relation in self.stored[collection].items():
            if relation.key is None:
                item: Any = Annotated[str, PydanticField(pattern=ID_PATTERN.pattern)]
            else:
                item = python_type(self.spec.collections[relation.to].fields[relation.key])
            types[name] = Annotated[list[item], PydanticField(max_length=MAX_MEMBERS)]
        return types

    def take(self, collection: str, values: dict[str, Any]) -> dict[str, list[Any]]:
        """Remove the relations' values from a body's values; return them by relation."""
        return {name: values.pop(name) for name in self.stored[collection] if name in values}

    # -- reading ---------------------------------------------------------------------------

    def load(
        self,
        reader: Reader,
        collection: str,
        caller: Caller,
        items: list[dict[str, Any]],
        only: frozenset[str] | None = None,
    ) -> None:
        """Add each stored relation's value to the records of a page, one statement per
        relation: the members the caller may view (none when an API key's scopes do not
        reach their collection), in the order they were added."""
        ids = [item["id"] for item in items]
        for name, relation in self.stored[collection].items():
            if only is not None and name not in only:
                continue
            found: dict[str, list[Any]] = {record_id: [] for record_id in ids}
            if ids and caller.may(relation.to, "view"):
                query = self.store.prepared.get(
                    None, lambda n=name, r=relation: self._members(collection, n, r, caller, ids)
                )
                for row in reader.rows(query):
                    found[row["owner"]].append(row["member"])
            for item in items:
                item[name] = found[item["id"]]

    def _members(
        self, collection: str, name: str, relation: Relation, caller: Caller, ids: list[str]
    ):
        link = self.store.tables[link_collection_name(collection, name)]
        target = self.store.tables[relation.to]
        member = target.c[relation.key] if relation.key else target.c.id
        return (
            select(link.c[LINK_OWNER].label("owner"), member.label("member"))
            .select_from(link.join(target, target.c.id == link.c[LINK_MEMBER]))
            .where(
                link.c[LINK_OWNER].in_(sorted(set(ids))),
                self.store.access.where(relation.to, "view", caller, table=target),
            )
            .order_by(link.c.created, link.c.id)
        )

    # -- writing ---------------------------------------------------------------------------

    def write(
        self,
        connection: Connection,
        collection: str,
        caller: Caller,
        record_id: str,
        values: Mapping[str, list[Any]],
        replace: bool,
    ) -> None:
        """Make each relation hold the given members (`replace`: the record had some before,
        and those the caller may view and did not name leave). Every member must exist and be
        visible to the caller, or only exist with `reference: any` (with `create_missing`, a
        key naming nothing creates the record, under the caller's create rule)."""
        problems: list[FieldProblem] = []
        resolved: dict[str, list[str]] = {}
        for name, given in values.items():
            relation = self.stored[collection][name]
            if self._by_account_email(relation):
                given = [account_email(value) for value in given]  # stored in lower case
            ids, missing = self._resolve(connection, relation, caller, given)
            if missing and relation.create_missing:
                for value in missing:
                    created = self.store.create(relation.to, caller, {relation.key: value})
                    ids[value] = created["id"]
                missing = []
            problems += [
                FieldProblem(f"/{name}", f"no record '{v}' in {relation.to}") for v in missing
            ]
            resolved[name] = [ids[v] for v in _distinct(given) if v in ids]
        if problems:
            raise ValidationFailed(problems)
        now = clock.now()
        for name, members in resolved.items():
            link = self.store.tables[link_collection_name(collection, name)]
            kept: set[str] = set()
            if replace:
                owned = link.c[LINK_OWNER] == record_id
                current = connection.execute(select(link.c[LINK_MEMBER]).where(owned))
                kept = {row[0] for row in current} & set(members)
                # Only members the writer may view leave: one it cannot see (added by someone
                # else, or by name with reference: any) is not dropped by being left out.
                relation = self.stored[collection][name]
                target = self.store.tables[relation.to]
                visible = select(target.c.id).where(
                    self.store.access.where(relation.to, "view", caller)
                )
                leaving = link.c[LINK_MEMBER].not_in(kept), link.c[LINK_MEMBER].in_(visible)
                connection.execute(delete(link).where(owned, *leaving))
            added = [member for member in members if member not in kept]
            # A microsecond apart: members read back in the order they were given.
            rows = [
                {
                    "id": new_id(),
                    "created": now + dt.timedelta(microseconds=position),
                    "updated": now,
                    "version": 1,
                    LINK_OWNER: record_id,
                    LINK_MEMBER: member,
                }
                for position, member in enumerate(added)
            ]
            if rows:
                connection.execute(insert(link), rows)

    def change(
        self,
        connection: Connection,
        collection: str,
        caller: Caller,
        record_id: str,
        name: str,
        member_id: str,
        add: bool,
    ) -> None:
        """Add or remove one member (by id) inside the record's write transaction."""
        link = self.store.tables[link_collection_name(collection, name)]
        pair = (link.c[LINK_OWNER] == record_id, link.c[LINK_MEMBER] == member_id)
        if not add:
            connection.execute(delete(link).where(*pair))
            return
        if connection.execute(select(link.c.id).where(*pair)).first() is not None:
            return
        relation = self.stored[collection][name]
        target = self.store.tables[relation.to]
        named = select(target.c.id).where(
            target.c.id == member_id, *self._nameable(relation, caller)
        )
        if connection.execute(named).first() is None:
            raise ValidationFailed(
                [FieldProblem(f"/{name}", f"no record '{member_id}' in {relation.to}")]
            )
        now = clock.now()
        row = {"id": new_id(), "created": now, "updated": now, "version": 1}
        connection.execute(insert(link), [{**row, LINK_OWNER: record_id, LINK_MEMBER: member_id}])

    def _resolve(
        self, connection: Connection, relation: Relation, caller: Caller, given: list[Any]
    ) -> tuple[dict[Any, str], list[Any]]:
        """The ids of the named members the caller may name, and the names that found none."""
        target = self.store.tables[relation.to]
        key = target.c[relation.key] if relation.key else target.c.id
        wanted = _distinct(given)
        found: dict[Any, str] = {}
        if wanted:
            query = select(key, target.c.id).where(
                key.in_(wanted), *self._nameable(relation, caller)
            )
            found = {row[0]: row[1] for row in connection.execute(query)}
        return found, [v for v in wanted if v not in found]

    def _by_account_email(self, relation: Relation) -> bool:
        target = self.spec.collections[relation.to]
        return relation.key == ACCOUNT_EMAIL and target.auth_options is not None

    def _nameable(self, relation: Relation, caller: Caller) -> list:
        """The records of `to` a writer may name: those it may view, or with `reference: any`
        every one."""
        if relation.reference == "any":
            return []
        return [self.store.access.where(relation.to, "view", caller)]


def _distinct(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))
