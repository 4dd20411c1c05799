"""Related records of many records at once, one statement per relation: what a GraphQL query
reads for each relation at each level of its selection, under the caller's view rule."""

from __future__ import annotations

from collections.abc import Collection as Values
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, select

from ..spec.relations import Link
from .caller import Caller
from .errors import InvalidQuery
from .listing import compile_filter, order_by
from .reads import select_for, sort_keys_for

if TYPE_CHECKING:
    from .records import RecordStore

OWNER = "_related_owner"
RANK = "_related_rank"


def records_where(
    store: RecordStore, collection: str, caller: Caller, field: str, values: Values[Any]
) -> list[dict[str, Any]]:
    """The records of `collection` whose `field` holds one of `values` and that the caller
    may view (none when an API key's scopes do not reach the collection)."""
    if not values or not caller.may(collection, "view"):
        return []
    table = store.tables[collection]
    query = select_for(store, collection, caller).where(
        table.c[field].in_(sorted(values)), store.access.where(collection, "view", caller)
    )
    return _read(store, collection, caller, query)


def records_of(
    store: RecordStore,
    link: Link,
    caller: Caller,
    owners: Values[str],
    *,
    first: int,
    filter: str | None = None,
    sort: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The first records a to-many relation (`link`, see spec.relations) reaches from each
    owner (by id), that the caller may list (as `GET /api/<to>?filter=<near> = "<owner>"`
    would: the link collection's list rule too) and `filter` admits, in the `sort` order (by
    default the order of a list, or the order members were added to a relation kept by
    backforge)."""
    found: dict[str, list[dict[str, Any]]] = {owner: [] for owner in owners}
    to = link.to
    if not owners or not caller.may(to, "list"):
        return found
    access = store.access
    table = store.tables[to]
    conditions = [access.where(to, "list", caller)]
    if filter:
        scope = access.scope(to, caller)
        conditions.append(compile_filter(filter, scope, store.spec.settings.max_filter_length))
    ordering = order_by(table, sort_keys_for(store, to, sort, caller))
    query = select_for(store, to, caller)
    # The fields linking a record to its owner, as the caller may read them: a link the read
    # rule hides from the caller links nothing for it.
    if link.far is None:  # one-to-many: the related records point at their owner
        owner = access.column(to, link.near, caller)
    else:
        if not caller.may(link.table, "list"):
            return found
        rows = store.tables[link.table]
        owner = access.column(link.table, link.near, caller)
        far = access.column(link.table, link.far, caller)
        query = query.join_from(table, rows, far == table.c.id)
        if store.spec.collections[link.table].link_of is None:
            conditions.append(access.where(link.table, "list", caller, table=rows))
        elif sort is None:
            ordering = [rows.c.created, rows.c.id]
    rank = func.row_number().over(partition_by=owner, order_by=ordering)
    ranked = (
        query.add_columns(owner.label(OWNER), rank.label(RANK))
        .where(owner.in_(sorted(owners)), *conditions)
        .subquery()
    )
    query = (
        select(*ranked.c).where(ranked.c[RANK] <= first).order_by(ranked.c[OWNER], ranked.c[RANK])
    )
    for record in _read(store, to, caller, query):
        del record[RANK]
        found[record.pop(OWNER)].append(record)
    return found


def page_size(store: RecordStore, first: int | None) -> int:
    """How many related records a level holds: `first`, within the declared page sizes."""
    settings = store.spec.settings
    if first is None:
        return settings.page_size
    if not 1 <= first <= settings.max_page_size:
        raise InvalidQuery(f"first must be from 1 to {settings.max_page_size}", "first")
    return first


def _read(
    store: RecordStore, collection: str, caller: Caller, query: Select
) -> list[dict[str, Any]]:
    prepared = store.prepared.get(None, lambda: query)
    stored = store.links.of(collection)
    with store.reader(1 + len(stored)) as reader:
        records = store.serializers[collection].selected(reader.rows(prepared))
        if stored:
            store.links.load(reader, collection, caller, records)
    return records
