"""The GraphQL schema of a declaration: a type per collection with its relations both ways,
list queries with the REST filter language, gets by id and by unique field, and create, update
and delete mutations, for the operations each collection serves over REST.

    products(filter: String, sort: String, first: Int, after: String): ProductsPage!
    products_by_id(id: ID!): Products
    products_by_sku(sku: String!): Products       (by a unique field, under the list rule)
    create_products(data: ProductsInput!): Products!
    update_products(id: ID!, data: ProductsInput!, version: Int): Products!
    delete_products(id: ID!, version: Int): ID!

A relation field (`category`) resolves to the related record (null where the caller may not
view it) and `category_id` holds its id; a to-many relation is a list of records, with
`filter`, `sort` and `first` arguments where it goes via or through another collection.
Resolvers only read what `loading.Loader` put beside each record, so every level of a query
costs one statement per relation, whatever the number of records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
)
from graphql.language import FloatValueNode, IntValueNode, StringValueNode, ValueNode
from graphql.utilities import print_schema, value_from_ast_untyped

from ..spec.model import Collection, Field, Spec
from ..spec.relations import Link, resolve_link
from ..store.access import hidden_fields

INT32 = (-(2**31), 2**31 - 1)
# Marks a page type (items, next_cursor, total) in its extensions.
PAGE = "backforge_page"
LIST_ARGUMENTS = ("filter", "sort", "first", "after")


def _json_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
    return value_from_ast_untyped(node, variables)


JSON = GraphQLScalarType(
    "JSON",
    description="Any JSON value (a json field).",
    serialize=lambda value: value,
    parse_value=lambda value: value,
    parse_literal=_json_literal,
)


def _number_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> Any:
    if isinstance(node, StringValueNode | IntValueNode | FloatValueNode):
        return node.value
    raise ValueError('a decimal is written as a string, e.g. "12.50"')


def _decimal_value(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError('a decimal is written as a string, e.g. "12.50"')
    return value


Decimal = GraphQLScalarType(
    "Decimal",
    description='An exact decimal number, as text ("12.50"); numbers are accepted as input.',
    serialize=str,
    parse_value=_decimal_value,
    parse_literal=_number_literal,
)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("a whole number is expected")
    return value


def _whole_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> int:
    if isinstance(node, IntValueNode):
        return int(node.value)
    raise ValueError("a whole number is expected")


BigInt = GraphQLScalarType(
    "BigInt",
    description="A whole number beyond 32 bits (an int field without narrower bounds).",
    serialize=_whole,
    parse_value=_whole,
    parse_literal=_whole_literal,
)


@dataclass(frozen=True)
class RelationField:
    """A GraphQL field that reads other records: a relation field's record (`one`), the members
    of a relation backforge keeps (`members`, named by `key` or by id), or the records of a
    relation via or through another collection (`many`, with list arguments, reached by
    `link`)."""

    kind: Literal["one", "members", "many"]
    name: str
    to: str
    key: str | None = None
    link: Link | None = None


@dataclass(frozen=True)
class RootField:
    """What a root field does: an operation on a collection (by `key` for a unique field)."""

    operation: Literal["list", "view", "find", "create", "update", "delete"]
    collection: str
    key: str | None = None


@dataclass
class Graph:
    schema: GraphQLSchema
    # collection -> GraphQL field -> the relation it reads
    relations: dict[str, dict[str, RelationField]] = field(default_factory=dict)
    # (root type name, field) -> what it does
    roots: dict[tuple[str, str], RootField] = field(default_factory=dict)
    # collection -> its object type's name
    type_names: dict[str, str] = field(default_factory=dict)
    # collection -> GraphQL field holding a relation field's id -> that relation field
    relation_ids: dict[str, dict[str, str]] = field(default_factory=dict)


def build_graph(spec: Spec, hidden: dict[str, frozenset[str]], resolvers: Any) -> Graph:
    """The schema of `spec`; `resolvers` (see service.GraphQLService) answers every root field
    (`root`), every relation field (`related`) and every subscription's event (`change`)."""
    return _Builder(spec, hidden, resolvers).build()


class _Unresolved:
    """The resolvers of a schema that is only printed."""

    root = related = change = None


def schema_text(spec: Spec) -> str:
    """The schema of a declaration in the GraphQL schema language."""
    return printed(build_graph(spec, hidden_fields(spec), _Unresolved()).schema)


def printed(schema: GraphQLSchema) -> str:
    return print_schema(schema) + "\n"


class _Builder:
    def __init__(self, spec: Spec, hidden: dict[str, frozenset[str]], resolvers: Any):
        self.spec = spec
        self.hidden = hidden
        self.resolvers = resolvers
        self.collections = {n: c for n, c in spec.collections.items() if c.link_of is None}
        self.taken = {"Query", "Mutation", "JSON", "Decimal", "BigInt"}
        self.graph = Graph(GraphQLSchema())
        self.objects: dict[str, GraphQLObjectType] = {}
        self.pages: dict[str, GraphQLObjectType] = {}
        self.inputs: dict[str, GraphQLInputObjectType | None] = {}

    def build(self) -> Graph:
        for name in self.collections:
            type_name = self._name(_pascal(name))
            self.graph.type_names[name] = type_name
            self.objects[name] = GraphQLObjectType(
                type_name,
                lambda name=name: self._fields(name),
                description=self.collections[name].description,
            )
        queries: dict[str, GraphQLField] = {}
        mutations: dict[str, GraphQLField] = {}
        for name, collection in self.collections.items():
            queries |= self._queries(name, collection)
            mutations |= self._mutations(name, collection)
        if not queries:  # a schema needs a query; a declaration may serve only writes
            queries["api"] = GraphQLField(
                GraphQLNonNull(GraphQLString), resolve=lambda *_: self.spec.name
            )
        query = GraphQLObjectType("Query", queries)
        mutation = GraphQLObjectType("Mutation", mutations) if mutations else None
        changes = {}
        for name, collection in self.collections.items():
            if collection.serves("view"):
                changes[f"{name}_changes"] = self._changes(name)
                self.graph.roots[("Subscription", f"{name}_changes")] = RootField("view", name)
        subscription = GraphQLObjectType("Subscription", changes) if changes else None
        self.graph.schema = GraphQLSchema(
            query, mutation, subscription, types=list(self.objects.values())
        )
        return self.graph

    # -- object types ------------------------------------------------------------------------

    def _fields(self, name: str) -> dict[str, GraphQLField]:
        collection = self.collections[name]
        hidden = self.hidden[name]
        relations = self.graph.relations.setdefault(name, {})
        related = self.resolvers.related
        fields: dict[str, GraphQLField] = {
            "id": GraphQLField(GraphQLNonNull(GraphQLID)),
            "created": GraphQLField(GraphQLNonNull(GraphQLString)),
            "updated": GraphQLField(GraphQLNonNull(GraphQLString)),
            "version": GraphQLField(GraphQLNonNull(GraphQLInt)),
        }
        for field_name, declared in collection.fields.items():
            if field_name in hidden:
                continue
            if declared.type == "relation" and declared.to in self.objects:
                fields[field_name] = GraphQLField(
                    self.objects[declared.to], resolve=related, description=declared.description
                )
                relations[field_name] = RelationField("one", field_name, declared.to)
                id_name = f"{field_name}_id"
                if id_name not in collection.fields and id_name not in collection.relations:
                    self.graph.relation_ids.setdefault(name, {})[id_name] = field_name
                    fields[id_name] = GraphQLField(
                        GraphQLID, resolve=_value_of(field_name), description=f"{field_name}'s id"
                    )
                continue
            output = _output_type(declared)
            if declared.required and declared.read is None:
                output = GraphQLNonNull(output)
            fields[field_name] = GraphQLField(output, description=declared.description)
        for relation_name, relation in collection.relations.items():
            if relation.to not in self.objects:
                continue
            if relation.stored:
                records = GraphQLNonNull(GraphQLList(GraphQLNonNull(self.objects[relation.to])))
                relations[relation_name] = RelationField(
                    "members", relation_name, relation.to, relation.key
                )
                fields[relation_name] = GraphQLField(
                    records, resolve=related, description=relation.description
                )
                continue
            link = resolve_link(self.spec, name, relation, relation_name)
            if {link.near, link.far} & self.hidden[link.table]:
                continue  # linked through a hidden field: not the caller's to follow
            relations[relation_name] = RelationField("many", relation_name, relation.to, link=link)
            fields[relation_name] = self._many(relation.to, relation.description)
        for field_name, link in self._pointing_at(name).items():
            if field_name not in fields:
                relations[field_name] = RelationField("many", field_name, link.to, link=link)
                description = f"The {link.to} whose {link.near} is this record."
                fields[field_name] = self._many(link.to, description)
        return fields

    def _many(self, to: str, description: str | None) -> GraphQLField:
        return GraphQLField(
            GraphQLNonNull(GraphQLList(GraphQLNonNull(self.objects[to]))),
            {
                "filter": GraphQLArgument(GraphQLString),
                "sort": GraphQLArgument(GraphQLString),
                "first": GraphQLArgument(GraphQLInt),
            },
            resolve=self.resolvers.related,
            description=description,
        )

    def _pointing_at(self, name: str) -> dict[str, Link]:
        """Relation fields of other collections that point here and no declared relation
        goes via, by the name their records go under here: the other collection's name, or
        `<collection>_by_<field>` where it has several such fields."""
        declared = {
            (r.to, r.via) for r in self.collections[name].relations.values() if r.via is not None
        }
        found: dict[str, Link] = {}
        for other, collection in self.collections.items():
            pointing = [
                field_name
                for field_name, field in collection.fields.items()
                if field.type == "relation"
                and field.to == name
                and field_name not in self.hidden[other]
                and (other, field_name) not in declared
            ]
            for field_name in pointing:
                wanted = other if len(pointing) == 1 else f"{other}_by_{field_name}"
                found[wanted] = Link(other, field_name, None, other)
        return found

    def _page(self, name: str) -> GraphQLObjectType:
        page = self.pages.get(name)
        if page is None:
            page = self.pages[name] = GraphQLObjectType(
                self._name(f"{self.graph.type_names[name]}Page"),
                {
                    "items": GraphQLField(
                        GraphQLNonNull(GraphQLList(GraphQLNonNull(self.objects[name]))),
                        resolve=self.resolvers.related,  # each alias its own (see _page)
                    ),
                    "next_cursor": GraphQLField(
                        GraphQLString, description="Pass as `after` for the next page."
                    ),
                    "total": GraphQLField(
                        GraphQLInt, description="The records the query matches (when asked)."
                    ),
                },
                extensions={PAGE: True},
            )
        return page

    def _changes(self, name: str) -> GraphQLField:
        """A subscription to a collection's changes (realtime's events, over the GraphQL
        WebSocket): each event's record is read as the subscriber, as on /api/realtime."""
        change = GraphQLObjectType(
            self._name(f"{self.graph.type_names[name]}Change"),
            {
                "event": GraphQLField(
                    GraphQLNonNull(GraphQLString),
                    description="ready, create, update, delete, reset or error",
                ),
                "position": GraphQLField(
                    GraphQLNonNull(GraphQLString), description="Resume after it: last_event_id"
                ),
                "id": GraphQLField(GraphQLID, description="The record's id"),
                "record": GraphQLField(
                    self.objects[name],
                    description="On create and update: as you may see it",
                    resolve=self.resolvers.related,
                ),
                "reason": GraphQLField(GraphQLString, description="On reset and error"),
            },
        )
        return GraphQLField(
            GraphQLNonNull(change),
            {
                "filter": GraphQLArgument(GraphQLString, description="Only records it admits"),
                "id": GraphQLArgument(GraphQLID, description="Only this record"),
                "last_event_id": GraphQLArgument(
                    GraphQLString, description="Resume after this position"
                ),
            },
            resolve=self.resolvers.change,
        )

    def _input(self, name: str) -> GraphQLInputObjectType | None:
        """The values a create or an update may send (which are required, which read-only, and
        what else is refused, the store decides, with the same errors as REST)."""
        if name in self.inputs:
            return self.inputs[name]
        collection = self.collections[name]
        fields: dict[str, GraphQLInputField] = {}
        for field_name, declared in collection.fields.items():
            if field_name in self.hidden[name] or declared.serial:
                continue
            fields[field_name] = GraphQLInputField(
                _input_type(declared), description=declared.description
            )
        if collection.auth_options is not None:
            fields["password"] = GraphQLInputField(GraphQLString)
        for relation_name, relation in collection.relations.items():
            if relation.stored:
                member: GraphQLInputType = GraphQLID
                if relation.key is not None:
                    target = self.spec.collections[relation.to].fields[relation.key]
                    member = _input_type(target)
                fields[relation_name] = GraphQLInputField(GraphQLList(GraphQLNonNull(member)))
        made = None
        if fields:
            type_name = self._name(f"{self.graph.type_names[name]}Input")
            made = GraphQLInputObjectType(type_name, fields)
        self.inputs[name] = made
        return made

    # -- root fields -------------------------------------------------------------------------

    def _queries(self, name: str, collection: Collection) -> dict[str, GraphQLField]:
        fields: dict[str, GraphQLField] = {}
        resolve = self.resolvers.root
        if collection.serves("list"):
            fields[name] = GraphQLField(
                GraphQLNonNull(self._page(name)),
                {
                    "filter": GraphQLArgument(GraphQLString, description="As ?filter= in REST"),
                    "sort": GraphQLArgument(GraphQLString, description="As ?sort= in REST"),
                    "first": GraphQLArgument(GraphQLInt, description="Records on the page"),
                    "after": GraphQLArgument(GraphQLString, description="A next_cursor"),
                },
                resolve=resolve,
            )
            self.graph.roots[("Query", name)] = RootField("list", name)
        if collection.serves("view"):
            by_id = f"{name}_by_id"
            fields[by_id] = GraphQLField(
                self.objects[name], {"id": GraphQLArgument(GraphQLNonNull(GraphQLID))}, resolve
            )
            self.graph.roots[("Query", by_id)] = RootField("view", name)
        if collection.serves("list"):  # found as a list filtered on the key would find it
            for field_name, declared in collection.fields.items():
                if not declared.unique or field_name in self.hidden[name]:
                    continue
                if declared.type in ("json", "relation"):
                    continue
                by_key = f"{name}_by_{field_name}"
                argument = GraphQLArgument(GraphQLNonNull(_input_type(declared)))
                fields[by_key] = GraphQLField(self.objects[name], {field_name: argument}, resolve)
                self.graph.roots[("Query", by_key)] = RootField("find", name, field_name)
        return fields

    def _mutations(self, name: str, collection: Collection) -> dict[str, GraphQLField]:
        fields: dict[str, GraphQLField] = {}
        resolve = self.resolvers.root
        data = self._input(name)
        with_data = {"data": GraphQLArgument(GraphQLNonNull(data))} if data is not None else {}
        record_id = {"id": GraphQLArgument(GraphQLNonNull(GraphQLID))}
        version = {
            "version": GraphQLArgument(
                GraphQLInt, description="Only if the record is at this version (as If-Match)."
            )
        }
        made = GraphQLNonNull(self.objects[name])
        if collection.serves("create"):
            fields[f"create_{name}"] = GraphQLField(made, with_data, resolve)
            self.graph.roots[("Mutation", f"create_{name}")] = RootField("create", name)
        if collection.serves("update") and data is not None:
            arguments = record_id | with_data | version
            fields[f"update_{name}"] = GraphQLField(made, arguments, resolve)
            self.graph.roots[("Mutation", f"update_{name}")] = RootField("update", name)
        if collection.serves("delete"):
            deleted = GraphQLNonNull(GraphQLID)
            fields[f"delete_{name}"] = GraphQLField(deleted, record_id | version, resolve)
            self.graph.roots[("Mutation", f"delete_{name}")] = RootField("delete", name)
        return fields

    def _name(self, wanted: str) -> str:
        """A type name no other type has (a collection may be called like a generated name)."""
        name, n = wanted, 2
        while name in self.taken:
            name, n = f"{wanted}{n}", n + 1
        self.taken.add(name)
        return name


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_")) or name


def _value_of(name: str):
    def resolve(record: dict[str, Any], _info: Any) -> Any:
        return record.get(name)

    return resolve


def _output_type(declared: Field) -> GraphQLOutputType:
    if declared.type == "file" and declared.multiple:  # stored names
        return GraphQLList(GraphQLNonNull(GraphQLString))
    return _scalar(declared)  # type: ignore[return-value]


def _input_type(declared: Field) -> GraphQLInputType:
    if declared.type == "relation":
        return GraphQLID
    if declared.type == "file" and declared.multiple:  # names to keep: files come over REST
        return GraphQLList(GraphQLNonNull(GraphQLString))
    return _scalar(declared)  # type: ignore[return-value]


def _scalar(declared: Field) -> GraphQLScalarType:
    match declared.type:
        case "int":
            if declared.serial or _fits_32_bits(declared):
                return GraphQLInt
            return BigInt
        case "float":
            return GraphQLFloat
        case "decimal":
            return Decimal
        case "bool":
            return GraphQLBoolean
        case "json":
            return JSON
        case "relation":
            return GraphQLID
    return GraphQLString  # text, email, url, select, date, datetime: as in REST


def _fits_32_bits(declared: Field) -> bool:
    low, high = INT32
    return (
        declared.min is not None
        and declared.max is not None
        and low <= declared.min
        and declared.max <= high
    )
