"""Running a GraphQL request: parse (bounded in tokens), validate (introspection may be off),
check the limits, then execute every field through the store as the caller — the same rules
in the SQL, the same validation, hooks and versions as the REST routes. Store errors come back
with the code and status of the REST problem they would be there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLResolveInfo,
    execute_sync,
    get_operation_ast,
    located_error,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from graphql.utilities import value_from_ast_untyped
from graphql.validation import NoSchemaIntrospectionCustomRule

from ..rules.ast import Comparison, Path
from ..spec.server import GraphQL as GraphQLSettings
from ..store.caller import Caller
from ..store.errors import InvalidQuery, NotFound
from ..store.listing import ListRequest
from ..store.prepared import BoundedMap
from ..store.reads import Narrowing
from ..store.records import RecordStore
from .answers import Answer, formatted, refused
from .limits import check_limits
from .loading import PREFIX, Loader, resolve_related, selected
from .projection import Info, NullInNonNull, Plan, arguments_of, plan, project
from .schema import Graph, RootField, build_graph

DOCUMENTS_KEPT = 256
MAX_SOURCE_LENGTH = 100_000  # characters of one query document (256 kept: 25 MB at most)
NO_PLAN = object()  # a document the projection does not cover, remembered as such
KEY = "value"


@dataclass(frozen=True)
class Prepared:
    document: DocumentNode
    operation: OperationDefinitionNode
    variables: dict[str, Any]  # as sent
    operation_name: str | None
    coerced: Any  # the variables as their declarations have them (graphql-core's VariableValues)
    plan: Plan | None = None  # None: graphql-core executes it


@dataclass(frozen=True)
class Context:
    caller: Caller
    loader: Loader


class GraphQLService:
    """The schema of one store's declaration and the execution of requests against it."""

    def __init__(self, store: RecordStore, settings: GraphQLSettings):
        self.store = store
        self.settings = settings
        self.graph: Graph = build_graph(store.spec, store.access.hidden, self)
        self.rules = list(specified_rules)
        if not settings.introspection:
            self.rules.append(NoSchemaIntrospectionCustomRule)
        # Parsed and validated documents by query text: most clients send the same few.
        self._documents = BoundedMap(DOCUMENTS_KEPT)
        self._plans = BoundedMap(DOCUMENTS_KEPT)

    related = staticmethod(resolve_related)

    def execute(
        self,
        caller: Caller,
        query: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
        *,
        mutations: bool = True,
    ) -> Answer:
        """`mutations`: whether the request may change data (not over GET)."""
        prepared = self.prepare(query, variables, operation_name, mutations=mutations)
        if isinstance(prepared, Answer):
            return prepared
        return self.run(caller, prepared)

    def prepare(
        self,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        *,
        mutations: bool = True,
        subscriptions: bool = False,
    ) -> Prepared | Answer:
        """The operation to run, parsed, validated and within the limits; or why not."""
        document = self._document(query)
        if isinstance(document, list):
            return refused(document)
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            message = (
                f"no operation named '{operation_name}' in the query"
                if operation_name
                else "the query holds several operations: name one in operationName"
            )
            return refused([GraphQLError(message)])
        kind = operation.operation
        if kind == OperationType.SUBSCRIPTION and not subscriptions:
            message = "a subscription runs over the WebSocket at /graphql (graphql-transport-ws)"
            return refused([GraphQLError(message)])
        if kind == OperationType.MUTATION and not mutations:
            message = "a mutation is sent with POST, not GET"
            return Answer(405, {"errors": [formatted(GraphQLError(message))]})
        variables = variables or {}
        coerced = get_variable_values(
            self.graph.schema,
            operation.variable_definitions or (),
            variables,
            hide_suggestions=not self.settings.introspection,
        )
        if isinstance(coerced, list):
            return refused(coerced)  # the variables do not fit their declarations
        crossed = check_limits(
            self.graph.schema,
            document,
            operation,
            coerced.coerced,
            self.settings,
            self.store.spec.settings.page_size,
        )
        if crossed:
            return refused(crossed)
        key = (query, operation_name)
        planned = self._plans.get(key)
        if planned is None:
            planned = plan(self.graph, document, operation) or NO_PLAN
            self._plans.put(key, planned)
        return Prepared(
            document,
            operation,
            variables,
            operation_name,
            coerced,
            None if planned is NO_PLAN else planned,
        )

    def run(self, caller: Caller, prepared: Prepared, root: Any = None) -> Answer:
        """Execute a prepared operation as the caller (a subscription's, once per event: the
        event is its `root`)."""
        if prepared.plan is not None:
            return self._projected(caller, prepared.plan, prepared.coerced)
        result: ExecutionResult = execute_sync(
            self.graph.schema,
            prepared.document,
            root_value=root,
            context_value=Context(caller, Loader(self.store, self.graph, caller)),
            variable_values=prepared.variables,
            operation_name=prepared.operation_name,
            hide_suggestions=not self.settings.introspection,
        )
        errors = [formatted(e) for e in result.errors or ()]
        if result.data is None and all(e.path is None for e in result.errors or ()):
            return Answer(400, {"errors": errors})  # the variables did not fit the query
        body: dict[str, Any] = {"data": result.data}
        if errors:
            body["errors"] = errors
        return Answer(200, body)

    def _projected(self, caller: Caller, plan: Plan, variables: Any) -> Answer:
        """What graphql-core's executor would answer, with the same root resolvers and loader,
        the selected fields copied out by the plan (see projection.py)."""
        schema = self.graph.schema
        context = Context(caller, Loader(self.store, self.graph, caller))
        root_type = schema.get_root_type(plan.operation.operation)
        assert root_type is not None
        data: dict[str, Any] | None = {}
        errors: list[dict[str, Any]] = []
        for root in plan.roots:
            nodes = list(root.nodes)
            info = Info(
                root.field_name, nodes, root_type, schema, plan.fragments, variables, context
            )
            try:
                value = self.root(None, info, **arguments_of(root_type, root, variables))
                value = project(value, root.part, [root.key])
            except NullInNonNull as exc:
                message = "Cannot return null for a non-nullable field"
                errors.append(formatted(GraphQLError(message, nodes, path=exc.path)))
                value = None
            except Exception as exc:  # as graphql-core does: the field's error, located
                errors.append(formatted(located_error(exc, nodes, [root.key])))
                value = None
            if value is None and root.part.non_null:
                data = None  # a non-null root field failed: no data, and nothing more runs
                break
            data[root.key] = value
        body: dict[str, Any] = {"data": data}
        if errors:
            body["errors"] = errors
        return Answer(200, body)

    def subscribed(self, prepared: Prepared) -> tuple[dict[str, str], str | None]:
        """What a subscription asks realtime for (collection, filter, id) and where it resumes."""
        node = _root_field(prepared.document, prepared.operation)
        what = self.graph.roots[("Subscription", node.name.value)]
        # String and ID arguments: their values as written, or the variables' as sent
        arguments = {
            a.name.value: value
            for a in node.arguments or ()
            if isinstance(value := value_from_ast_untyped(a.value, prepared.variables), str | int)
        }
        params = {"collection": what.collection}
        params |= {k: str(arguments[k]) for k in ("filter", "id") if arguments.get(k)}
        resume = arguments.get("last_event_id")
        return params, str(resume) if resume is not None else None

    def _document(self, query: str) -> DocumentNode | list[GraphQLError]:
        known = self._documents.get(query)
        if known is not None:
            return known
        try:
            document = parse(
                query,
                max_tokens=self.settings.max_tokens,
                max_source_length=MAX_SOURCE_LENGTH,  # whitespace and strings are no tokens
            )
        except GraphQLError as error:
            return [error]
        # Without introspection, no "Did you mean …" either: it would spell the schema out.
        hide = not self.settings.introspection
        errors = validate(self.graph.schema, document, self.rules, hide_suggestions=hide)
        found = errors or document
        self._documents.put(query, found)
        return found

    # -- resolvers -------------------------------------------------------------------------

    def root(self, _source: Any, info: GraphQLResolveInfo, **arguments: Any) -> Any:
        """Every root field: the operation it names, through the store."""
        what: RootField = self.graph.roots[(info.parent_type.name, info.field_name)]
        context: Context = info.context
        store, caller, name = self.store, context.caller, what.collection
        if what.operation == "list":
            return self._page(info, name, caller, arguments)
        if what.operation in ("view", "find"):
            record = self._one(name, caller, what.key, arguments)
            if record is not None:
                context.loader.load(info, name, [record], info.field_nodes)
            return record
        versions = {arguments["version"]} if arguments.get("version") is not None else None
        if what.operation == "delete":
            store.delete(name, caller, arguments["id"], versions)
            return arguments["id"]
        data = arguments.get("data") or {}
        if what.operation == "create":
            record = store.create(name, caller, data)
        else:
            record = store.update(name, caller, arguments["id"], data, versions)
        context.loader.load(info, name, [record], info.field_nodes)
        return record

    def change(self, event: dict[str, Any], info: GraphQLResolveInfo, **_arguments: Any) -> Any:
        """A subscription's field: the event (the root of this execution), its record's
        relations read as the subscriber (the read is shared by this caller's streams, so
        each selection of the record loads into a copy of its own)."""
        change = dict(event)
        record = event.get("record")
        name = self.graph.roots[("Subscription", info.field_name)].collection
        for key, nodes in _each(info, "record").items():
            copy = dict(record) if record is not None else None
            if copy is not None:
                info.context.loader.load(info, name, [copy], nodes)
            change[PREFIX + key] = copy
        return change

    def _one(
        self, name: str, caller: Caller, key: str | None, arguments: dict[str, Any]
    ) -> dict[str, Any] | None:
        """A record by id (as GET /api/<name>/<id>), or by a unique field (as a list filtered
        on it: the list rule decides), or None."""
        if key is None:
            try:
                return self.store.get(name, caller, arguments["id"])
            except NotFound:
                return None
        page = self.store.list(
            name, caller, ListRequest(limit=1), narrowing=_by_key(name, key, arguments)
        )
        return page.items[0] if page.items else None

    def _page(
        self, info: GraphQLResolveInfo, name: str, caller: Caller, arguments: dict[str, Any]
    ) -> dict[str, Any]:
        first = arguments.get("first")
        maximum = self.store.spec.settings.max_page_size
        if first is not None and not 1 <= first <= maximum:
            raise InvalidQuery(f"first must be from 1 to {maximum}", "first")
        request = ListRequest(
            filter=arguments.get("filter"),
            sort=arguments.get("sort"),
            limit=first,
            cursor=arguments.get("after") or None,
            total=bool(_each(info, "total")),
        )
        page = self.store.list(name, caller, request)
        answer: dict[str, Any] = {"next_cursor": page.next_cursor, "total": page.total}
        # Each alias of `items` gets records of its own: the loader puts relations beside them
        # by response key, and two aliases may give one key different selections.
        aliases = _each(info, "items")
        copies = [page.items] + [[dict(r) for r in page.items] for _ in range(len(aliases) - 1)]
        for (key, nodes), records in zip(aliases.items(), copies, strict=False):
            info.context.loader.load(info, name, records, nodes)
            answer[PREFIX + key] = records
        return answer


def _each(info: GraphQLResolveInfo, field: str) -> dict[str, list[FieldNode]]:
    """The selections of `field` under the current one, by response key."""
    return {
        key: nodes
        for key, nodes in selected(info, info.field_nodes).items()
        if nodes[0].name.value == field
    }


def _by_key(collection: str, key: str, arguments: dict[str, Any]) -> Narrowing:
    condition = Comparison(Path((key,), 0), "=", Path(("params", KEY), 0), 0)
    return Narrowing(("graphql", collection, key), (condition,), {KEY: arguments[key]})


def _root_field(document: DocumentNode, operation: OperationDefinitionNode) -> FieldNode:
    """A subscription's one root field (validation made sure there is exactly one)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }

    def first(selection_set: SelectionSetNode) -> FieldNode | None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                return selection
            if isinstance(selection, InlineFragmentNode):
                found = first(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                found = first(fragments[selection.name.value].selection_set)
            else:
                found = None
            if found is not None:
                return found
        return None

    found = first(operation.selection_set)
    assert found is not None
    return found
