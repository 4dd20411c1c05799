"""What one query may ask for: how deep its selections nest, how many aliases it uses, and how
many fields it may resolve, counting each field once per record the lists above it may hold
(`first`, or the page size). Checked once the variables are known, before anything is read.
The introspection fields (`__schema`, `__type`) are left out: the schema bounds them."""

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


@dataclass
class _Tally:
    depth: int = 0
    aliases: int = 0
    complexity: int = 0


def check_limits(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
    settings: GraphQLSettings,
    page_size: int,
) -> list[GraphQLError]:
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = schema.get_root_type(operation.operation)
    tally = _Tally()

    def size(node: FieldNode) -> int:
        """How many records a list field may hold: its `first`, or the page size."""
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            value = argument.value
            if isinstance(value, VariableNode):
                given = variables.get(value.name.value)
                return given if isinstance(given, int) and given > 0 else page_size
            if isinstance(value, IntValueNode):
                return max(int(value.value), 1)
        return page_size

    def walk(
        selection_set: SelectionSetNode,
        parent: GraphQLObjectType | None,
        depth: int,
        multiplier: int,
        spread: frozenset[str],
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set, parent, depth, multiplier, spread)
                continue
            if isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in spread:
                    walk(fragment.selection_set, parent, depth, multiplier, spread | {name})
                continue
            assert isinstance(selection, FieldNode)
            name = selection.name.value
            if name.startswith("__") and selection.selection_set is not None:
                continue  # __schema, __type: bounded by the schema itself
            tally.depth = max(tally.depth, depth)
            tally.aliases += selection.alias is not None
            tally.complexity += multiplier
            if selection.selection_set is None:
                continue
            definition = parent.fields.get(name) if parent is not None else None
            child = get_named_type(definition.type) if definition is not None else None
            many = definition is not None and (
                "first" in definition.args
                # a relation's members; a page's items are counted by the page's `first`
                or (is_list_type(get_nullable_type(definition.type)) and not _is_page(parent))
            )
            walk(
                selection.selection_set,
                child if isinstance(child, GraphQLObjectType) else None,
                depth + 1,
                multiplier * size(selection) if many else multiplier,
                spread,
            )

    walk(operation.selection_set, root, 1, 1, frozenset())
    errors = []
    if tally.depth > settings.max_depth:
        errors.append(
            _error(
                f"the query nests {tally.depth} levels deep; at most {settings.max_depth} "
                "are allowed (ask for less at once, or follow a relation in a second query)",
                "too-deep",
            )
        )
    if tally.aliases > settings.max_aliases:
        errors.append(
            _error(
                f"the query uses {tally.aliases} aliases; at most {settings.max_aliases} "
                "are allowed",
                "too-many-aliases",
            )
        )
    if tally.complexity > settings.max_complexity:
        errors.append(
            _error(
                f"the query may resolve {tally.complexity} fields; at most "
                f"{settings.max_complexity} are allowed (lower `first` on its lists, or "
                "select fewer fields)",
                "too-complex",
            )
        )
    return errors


def _is_page(object_type: GraphQLObjectType | None) -> bool:
    return object_type is not None and bool(object_type.extensions.get(PAGE))


def _error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, "status": 400})
