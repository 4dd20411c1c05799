"""What one query may ask for: how deep its selections nest, how many aliases it uses, and how
many fields it may resolve, counting each field once per record the lists above it may hold
(`first`, or the page size when it is not given). Checked with the variables coerced (their
defaults too), before anything is read.

Each fragment is measured once per type it is spread on, so a document of fragments spreading
fragments costs its size, not the size of its expansion. Inside `__schema` and `__type` nothing
multiplies the answer but aliases, which are refused there (the introspection GraphiQL sends
uses none); their depth is bounded by graphql-core's own rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)

from ..spec.server import GraphQL as GraphQLSettings
from .schema import PAGE


@dataclass(frozen=True)
class Measure:
    """A selection set's size: levels below it, aliases in it, fields it may resolve (each
    counted once per record of the lists it holds)."""

    depth: int = 0
    aliases: int = 0
    fields: int = 0


class _IntrospectionAlias(Exception):
    pass


def check_limits(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
    settings: GraphQLSettings,
    page_size: int,
) -> list[GraphQLError]:
    """Why the operation asks too much (nothing: it may run). `variables` are coerced."""
    measurer = _Measurer(schema, document, variables, page_size)
    root = schema.get_root_type(operation.operation)
    try:
        measured = measurer.measure(operation.selection_set, root, introspection=False)
    except _IntrospectionAlias:
        return [_error("aliases are not allowed inside __schema or __type", "too-many-aliases")]
    errors = []
    if measured.depth > settings.max_depth:
        errors.append(
            _error(
                f"the query nests {measured.depth} levels deep; at most {settings.max_depth} "
                "are allowed (ask for less at once, or follow a relation in a second query)",
                "too-deep",
            )
        )
    if measured.aliases > settings.max_aliases:
        errors.append(
            _error(
                f"the query uses {measured.aliases} aliases; at most {settings.max_aliases} "
                "are allowed",
                "too-many-aliases",
            )
        )
    if measured.fields > settings.max_complexity:
        errors.append(
            _error(
                f"the query may resolve {measured.fields} fields; at most "
                f"{settings.max_complexity} are allowed (lower `first` on its lists, or "
                "select fewer fields)",
                "too-complex",
            )
        )
    return errors


class _Measurer:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any],
        page_size: int,
    ):
        self.schema = schema
        self.variables = variables
        self.page_size = page_size
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.known: dict[tuple[str, str, bool], Measure] = {}

    def measure(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLObjectType | None,
        introspection: bool,
    ) -> Measure:
        depth = aliases = fields = 0
        for selection in selection_set.selections:
            if isinstance(selection, InlineFragmentNode):
                part = self.measure(selection.selection_set, parent, introspection)
            elif isinstance(selection, FragmentSpreadNode):
                part = self._fragment(selection.name.value, parent, introspection)
            else:
                assert isinstance(selection, FieldNode)
                part = self._field(selection, parent, introspection)
            depth = max(depth, part.depth)
            aliases += part.aliases
            fields += part.fields
        return Measure(depth, aliases, fields)

    def _fragment(
        self, name: str, parent: GraphQLObjectType | None, introspection: bool
    ) -> Measure:
        key = (name, parent.name if parent is not None else "", introspection)
        known = self.known.get(key)
        if known is None:
            fragment = self.fragments.get(name)
            known = (
                self.measure(fragment.selection_set, parent, introspection)
                if fragment is not None
                else Measure()
            )
            self.known[key] = known
        return known

    def _field(
        self, node: FieldNode, parent: GraphQLObjectType | None, introspection: bool
    ) -> Measure:
        name = node.name.value
        inside = introspection or name in ("__schema", "__type")
        if inside and node.alias is not None:
            raise _IntrospectionAlias
        alias = int(node.alias is not None)
        if node.selection_set is None:
            return Measure(0 if inside else 1, alias, 1)
        definition = parent.fields.get(name) if parent is not None else None
        child = get_named_type(definition.type) if definition is not None else None
        below = self.measure(
            node.selection_set,
            child if isinstance(child, GraphQLObjectType) else None,
            inside,
        )
        many = (
            not inside
            and definition is not None
            and (
                "first" in definition.args
                # a relation's members; a page's items are counted by the page's `first`
                or (is_list_type(get_nullable_type(definition.type)) and not _is_page(parent))
            )
        )
        records = self._size(node) if many else 1
        depth = below.depth if inside else below.depth + 1
        return Measure(depth, alias + below.aliases, 1 + records * below.fields)

    def _size(self, node: FieldNode) -> int:
        """How many records a list field may hold: its `first`, or the page size."""
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            value = argument.value
            if isinstance(value, VariableNode):
                value = self.variables.get(value.name.value)
                return value if isinstance(value, int) and value > 0 else self.page_size
            if isinstance(value, IntValueNode):
                return max(int(value.value), 1)
        return self.page_size


def _is_page(object_type: GraphQLObjectType | None) -> bool:
    return object_type is not None and bool(object_type.extensions.get(PAGE))


def _error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, "status": 400})
