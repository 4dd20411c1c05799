"""Relations read ahead of the resolvers: for the records of one level, every relation the
query selects is read in one statement (`store.related`), its records put beside each record
under the field's response key, and the same done for the level below. A query's statements
are so bounded by its shape (relations times levels), never by how many records it returns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import GraphQLObjectType, GraphQLResolveInfo
from graphql.execution.values import get_argument_values
from graphql.language import (
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

from ..store.caller import Caller
from ..store.errors import InvalidQuery
from ..store.records import RecordStore
from ..store.related import page_size, records_of, records_where
from .schema import Graph

# Relations one request may follow (each a statement, whatever the number of records).
MAX_RELATION_READS = 200
# A record keeps what its relation field resolves to under this prefix and the response key
# (no field name starts with it).
PREFIX = "@"


def resolve_related(record: dict[str, Any], info: GraphQLResolveInfo, **_arguments: Any) -> Any:
    """Every relation field's resolver: what the loader put beside the record (its arguments
    were the loader's)."""
    return record.get(PREFIX + str(info.path.key))


def selected(info: GraphQLResolveInfo, nodes: Iterable[FieldNode]) -> dict[str, list[FieldNode]]:
    """The fields the nodes select, by response key (fragments included, merged as GraphQL
    merges them)."""
    found: dict[str, list[FieldNode]] = {}

    def walk(selection_set: SelectionSetNode | None) -> None:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                found.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = info.fragments.get(selection.name.value)
                if fragment is not None:
                    walk(fragment.selection_set)

    for node in nodes:
        walk(node.selection_set)
    return found


class Loader:
    """Reads the relations a query selects, for one caller."""

    def __init__(self, store: RecordStore, graph: Graph, caller: Caller):
        self.store = store
        self.graph = graph
        self.caller = caller
        self.reads = 0

    def load(
        self,
        info: GraphQLResolveInfo,
        collection: str,
        records: list[dict[str, Any]],
        nodes: Iterable[FieldNode],
    ) -> None:
        """Put beside each record of `collection` what the nodes' relation fields select."""
        if not records:
            return
        relations = self.graph.relations.get(collection, {})
        object_type = info.schema.type_map[self.graph.type_names[collection]]
        assert isinstance(object_type, GraphQLObjectType)
        for key, field_nodes in selected(info, nodes).items():
            relation = relations.get(field_nodes[0].name.value)
            if relation is None:
                continue
            slot = PREFIX + key
            self.reads += 1
            if self.reads > MAX_RELATION_READS:
                raise InvalidQuery(
                    f"the query follows relations more than {MAX_RELATION_READS} times (a "
                    "statement each); ask for fewer at once",
                    "query",
                )
            if relation.kind == "one":
                ids = {r[relation.name] for r in records if r.get(relation.name) is not None}
                found = self._where(relation.to, "id", ids)
                for record in records:
                    record[slot] = found.get(record.get(relation.name))
                loaded = list(found.values())
            elif relation.kind == "members":
                values = {v for r in records for v in r.get(relation.name) or ()}
                found = self._where(relation.to, relation.key or "id", values)
                for record in records:
                    members = record.get(relation.name) or ()
                    record[slot] = [found[v] for v in members if v in found]
                loaded = list(found.values())
            else:
                definition = object_type.fields[relation.name]
                arguments = get_argument_values(definition, field_nodes[0], info.variable_values)
                assert relation.link is not None
                grouped = records_of(
                    self.store,
                    relation.link,
                    self.caller,
                    {r["id"] for r in records},
                    first=page_size(self.store, arguments.get("first")),
                    filter=arguments.get("filter"),
                    sort=arguments.get("sort"),
                )
                for record in records:
                    record[slot] = grouped[record["id"]]
                loaded = [r for group in grouped.values() for r in group]
            self.load(info, relation.to, loaded, field_nodes)

    def _where(self, collection: str, field: str, values: set[Any]) -> dict[Any, dict[str, Any]]:
        found = records_where(self.store, collection, self.caller, field, values)
        return {record[field]: record for record in found}
