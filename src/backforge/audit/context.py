"""What every check shares: the client, the document, the identities and the findings so far."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .client import ANONYMOUS, AuditClient, Exchange, Identity, WriteNotAllowed
from .findings import Finding, Severity
from .openapi import ApiDocument, Operation
from .values import example_object, example_value, looks_unique, properties, schema_type

ID_KEYS = ("id", "uuid", "_id", "key", "slug")
ADMIN_WORDS = re.compile(
    r"(^|[/_\-. ])"
    r"(admin|admins|administration|internal|manage|management|superuser|staff|backoffice)"
    r"([/_\-. ]|$)"
)

LIST_KEYS = ("items", "data", "results", "records")  # where list answers keep their objects
ADMIN_ROLES = {"admin", "administrator", "root", "superuser", "staff", "owner"}


@dataclass
class CreatedObject:
    """An object the audit created itself, so that it may read, change and delete it."""

    create: Operation
    owner: Identity
    body: dict[str, Any]
    sent: dict[str, Any]
    id: str
    parents: dict[str, Any] = field(default_factory=dict)  # path values of a nested create

    def where(self, op: Operation) -> dict[str, Any]:
        """Path values naming this object in `op`, one of its item operations."""
        return {**self.parents, op.path_params[-1].name: self.id}


@dataclass
class AuditOptions:
    allow_writes: bool = False
    roles: dict[str, Any] = field(default_factory=dict)
    burst_size: int = 40
    time_probe_seconds: float = 2.0
    fuzz_examples: int = 8
    declaration: str | None = None  # a backforge declaration file, to lint as well


class AuditContext:
    def __init__(self, client: AuditClient, doc: ApiDocument, options: AuditOptions) -> None:
        self.client = client
        self.doc = doc
        self.options = options
        self.users: list[Identity] = []  # authenticated identities, the first is "user A"
        self.roles_of: dict[str, str] = {}  # identity name -> role (from the role map)
        self.findings: list[Finding] = []
        self.created: list[CreatedObject] = []
        self.notes: list[str] = []  # what could not be checked, and why
        self.login_op: Operation | None = None
        self.signup_op: Operation | None = None
        self.reset_op: Operation | None = None
        self.known_ids: dict[str, list[str]] = {}  # collection path -> ids seen or created
        self._creating: set[str] = set()
        self._seen: set[tuple[str, str]] = set()
        self.seen_values: dict[str, list[Any]] = {}  # property name -> values in answers

    # -- findings ---------------------------------------------------------------------------
    def report(
        self,
        *,
        id: str,
        title: str,
        severity: Severity,
        category: str,
        operation: str,
        check: str,
        detail: str,
        fix: str,
        evidence: list[Any] | None = None,
        location: tuple[str, int | None] | None = None,
    ) -> None:
        if (id, operation) in self._seen:
            return
        self._seen.add((id, operation))
        self.findings.append(
            Finding(
                id=id,
                title=title,
                severity=severity,
                category=category,
                operation=operation,
                check=check,
                detail=detail,
                fix=fix,
                evidence=[e.evidence() if isinstance(e, Exchange) else e for e in evidence or []],
                location=location,
            )
        )

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # -- identities -------------------------------------------------------------------------
    def low_privilege_users(self) -> list[Identity]:
        """Users known to be ordinary: registered by the audit, or given a plain role in --roles."""
        return [
            u
            for u in self.users
            if u.name in self.roles_of and self.roles_of[u.name].lower() not in ADMIN_ROLES
        ]

    def admin_users(self) -> list[Identity]:
        """Users given an admin-like role in --roles, or named like one when --roles does not
        say (`--user admin=bearer:...`)."""
        return [u for u in self.users if self.roles_of.get(u.name, u.name).lower() in ADMIN_ROLES]

    def _peers(self) -> list[Identity]:
        """The users that object-level checks compare: ordinary ones; else, when nothing says
        who is who (no sign-up, no role map), the --user identities in the order given."""
        ordinary = self.low_privilege_users()
        if ordinary or self.options.roles:
            return ordinary
        return self.users

    @property
    def user_a(self) -> Identity | None:
        peers = self._peers()
        return peers[0] if peers else None

    @property
    def user_b(self) -> Identity | None:
        peers = self._peers()
        return peers[1] if len(peers) > 1 else None

    @property
    def primary(self) -> Identity | None:
        """Who sends the ordinary requests: the first --user (often the most capable), else A."""
        given = [u for u in self.users if not u.self_registered]
        return given[0] if given else self.user_a

    def identity_for(self, op: Operation) -> Identity | None:
        """The identity to send an operation as: the primary user if it needs auth, else none."""
        return self.primary if op.security else None

    # -- operations -------------------------------------------------------------------------
    def operations(self, *methods: str) -> list[Operation]:
        wanted = {m.upper() for m in methods}
        return [op for op in self.doc.operations if not wanted or op.method in wanted]

    def is_auth_flow(self, op: Operation) -> bool:
        return op in {self.login_op, self.signup_op, self.reset_op} or bool(
            re.search(
                r"(login|logout|signin|sign-in|signup|sign-up|register|token|refresh|password|reset|forgot|verify)",
                op.path.lower(),
            )
        )

    def is_admin_op(self, op: Operation) -> bool:
        return bool(ADMIN_WORDS.search(op.path.lower())) or any(
            t.lower() in {"admin", "administration", "internal"} for t in op.tags
        )

    def item_ops(self, create: Operation) -> list[Operation]:
        """Operations on one object of the collection that `create` adds to: below its path,
        or for a create under a parent (`POST /products/{id}/reviews`) where the collection
        has its own (`/reviews/{review_id}`)."""
        base = create.path.rstrip("/")
        pattern = re.compile("^" + re.escape(base) + r"/\{[^}/]+\}$")
        found = [op for op in self.doc.operations if pattern.match(op.path)]
        if found or not create.path_params:
            return found
        segment = base.rsplit("/", 1)[-1]
        elsewhere = re.compile(r"^(.*/)?" + re.escape(segment) + r"/\{[^}/]+\}$")
        return [op for op in self.doc.operations if elsewhere.match(op.path)]

    def collection_creates(self) -> list[Operation]:
        """Creates of collections with item operations, at the top or under a parent."""
        return [
            op
            for op in self.operations("POST")
            if op.body_schema is not None
            and not op.path.rstrip("/").endswith("}")
            and not self.is_auth_flow(op)
            and self.item_ops(op)
        ]

    # -- sending ----------------------------------------------------------------------------
    def call(
        self,
        op: Operation,
        *,
        identity: Identity | None = None,
        path_values: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        check: str = "",
        drift: bool = True,
        own_object: bool = False,
        timeout: float | None = None,
    ) -> Exchange:
        params = dict(self.required_query(op))
        params.update(query or {})
        if (
            body is not None
            and content is None
            and op.body_media_type == "application/x-www-form-urlencoded"
        ):
            from urllib.parse import urlencode

            content = urlencode(body)
            headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
            body = None
        exchange = self.client.send(
            op.method,
            op.url_path(path_values or {}),
            identity=identity,
            operation=op.key,
            params=params,
            json_body=body,
            content=content,
            headers=headers,
            check=check,
            drift=drift,
            own_object=own_object,
            timeout=timeout,
        )
        if 200 <= exchange.status < 300 and exchange.is_json:
            self._remember_values(exchange.json())
        return exchange

    def _remember_values(self, data: Any) -> None:
        """Scalar values the API itself answered, by property name: a create the schema alone
        cannot satisfy (a `currency` it does not list) is retried with them."""
        for item in list_items(data) or ([data] if isinstance(data, dict) else []):
            for name, value in item.items():
                if isinstance(value, str | int | float) and not isinstance(value, bool):
                    values = self.seen_values.setdefault(name, [])
                    if value not in values and len(values) < 5:
                        values.append(value)

    def required_query(self, op: Operation) -> dict[str, Any]:
        return {p.name: example_value(p.schema, p.name) for p in op.query_params if p.required}

    def example_body(
        self, op: Operation, all_fields: bool = False, sender: Identity | None = None
    ) -> dict[str, Any] | None:
        """A valid body: the required properties (`all_fields`: every writable one), with
        references pointing at objects that exist — never at the account of another of the
        audit's users than `sender` (linking user B into A's object would let B see it)."""
        if op.body_schema is None:
            return None
        if schema_type(op.body_schema) not in {"object", None}:
            return None
        body = example_object(op.body_schema, all_fields=all_fields)
        others = {u.user_id for u in self.users if u is not sender and u.user_id}
        self._fill_relations(op, body, all_fields, others)
        return body

    def relation_target(self, name: str) -> Operation | None:
        """The create operation of the collection a property like `customer` points to."""
        wanted = _collection_names(name)
        for create in self.collection_creates():
            if create.path.rstrip("/").rsplit("/", 1)[-1] in wanted:
                return create
        return None

    def discover_ids(self, name: str, identity: Identity | None) -> list[str]:
        """Ids of the collection a property or path parameter like `product_id` points to,
        read from its documented list (`GET /products`) when the audit made none itself."""
        wanted = _collection_names(name)
        for op in self.operations("GET"):
            if op.path_params or op.path.rstrip("/").rsplit("/", 1)[-1] not in wanted:
                continue
            key = op.path.rstrip("/")
            if key not in self.known_ids:  # asked once, whatever it answers
                exchange = self.call(op, identity=identity if op.security else None, check="setup")
                ok = exchange.status == 200
                self.known_ids[key] = list_ids(exchange.json()) if ok else []
            if self.known_ids.get(key):
                return self.known_ids[key]
        return []

    def parent_values(self, op: Operation, identity: Identity | None) -> dict[str, Any]:
        """Values for the path parameters of a nested collection (`{product_id}` in
        `/products/{product_id}/reviews`): objects the audit made, else ones its lists show."""
        values: dict[str, Any] = {}
        for param in op.path_params:
            target = self.relation_target(param.name)
            ids = self.known_ids.get(target.path.rstrip("/"), []) if target else []
            ids = ids or self.discover_ids(param.name, identity)
            if ids:
                values[param.name] = ids[0]
        return values

    def _fill_relations(
        self,
        op: Operation,
        body: dict[str, Any],
        every: bool = False,
        others: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        """Point required references (`every`: all of them) at objects that exist, creating
        one when none is known."""
        required = set(flatten_required(op.body_schema))
        for name in list(body):
            if name not in required and not every:
                continue
            target = self.relation_target(name)
            if target is None or target is op or target.key in self._creating:
                continue
            ids = [i for i in self.known_ids.get(target.path.rstrip("/"), []) if i not in others]
            if not ids:
                self._creating.add(target.key)
                try:
                    self.create_object(target, self.primary or ANONYMOUS, "setup")
                finally:
                    self._creating.discard(target.key)
                known = self.known_ids.get(target.path.rstrip("/"), [])
                ids = [i for i in known if i not in others]
            if not ids:
                ids = [i for i in self.discover_ids(name, self.primary) if i not in others]
            if ids:
                body[name] = _typed(ids[0], body[name])

    # -- objects ----------------------------------------------------------------------------
    def create_object(self, create: Operation, owner: Identity, check: str) -> CreatedObject | None:
        """Create an object as `owner` with a valid body; None when the API refuses."""
        body = self.example_body(create, sender=owner)
        if body is None:
            return None
        parents = self.parent_values(create, owner) if create.path_params else {}
        try:
            exchange = self.call(
                create, identity=owner, path_values=parents, body=body, check=check
            )
            if exchange.status in (400, 422):
                # Documents often mark nothing required: send every property the schema has.
                fuller = self.example_body(create, all_fields=True, sender=owner)
                if fuller is not None and fuller != body:
                    body = fuller
                    exchange = self.call(
                        create, identity=owner, path_values=parents, body=body, check=check
                    )
            if exchange.status in (400, 422):
                # Values the API answered elsewhere under the same names (but never ids, which
                # _fill_relations chose, nor unique ones such as an email).
                seen = {
                    name: self.seen_values[name][0]
                    for name in body
                    if self.seen_values.get(name)
                    and name not in ID_KEYS
                    and not looks_unique(name)
                    and self.relation_target(name) is None
                }
                if seen:
                    body = {**body, **seen}
                    exchange = self.call(
                        create, identity=owner, path_values=parents, body=body, check=check
                    )
        except WriteNotAllowed:
            return None
        data = exchange.json()
        if exchange.status >= 300:
            self.note(f"could not create an object through {create.key} ({exchange.status})")
            return None
        data = data if isinstance(data, dict) else {}
        data = data.get("data", data) if isinstance(data.get("data"), dict) else data
        if object_id_of(data) is None:
            found = self._find_created(create, exchange, owner, parents, body)
            data = {**data, **found} if found else data
        object_id = object_id_of(data)
        if object_id is None:
            return None
        obj = CreatedObject(
            create=create, owner=owner, body=data or body, sent=body, id=object_id, parents=parents
        )
        self.created.append(obj)
        self.known_ids.setdefault(create.path.rstrip("/"), []).append(object_id)
        return obj

    def object_of(self, create: Operation, owner: Identity, check: str) -> CreatedObject | None:
        for obj in self.created:
            if obj.create is create and obj.owner is owner:
                return obj
        return self.create_object(create, owner, check)

    def path_values_for(self, op: Operation, owner: Identity | None, check: str) -> dict[str, Any]:
        """Path values naming a real object (one the owner created), when the API lets us."""
        if not op.path_params:
            return {}
        for create in self.collection_creates():
            if op in self.item_ops(create) and owner is not None:
                obj = self.object_of(create, owner, check)
                if obj is not None:
                    return obj.where(op)
        return {}

    def _find_created(
        self,
        create: Operation,
        exchange: Exchange,
        owner: Identity,
        parents: dict[str, Any],
        sent: dict[str, Any],
    ) -> dict[str, Any] | None:
        """An object whose create answered no id: its id from the Location header, else the
        one object of the collection's list holding everything that was sent."""
        location = exchange.headers.get("location", "").rstrip("/")
        if location:
            return {"id": location.rsplit("/", 1)[-1]}
        listing = self.doc.find("GET", create.path)
        if listing is None:
            return None
        answer = self.call(listing, identity=owner, path_values=parents, check="setup")
        items = list_items(answer.json()) if answer.status == 200 else []
        matches = [
            item
            for item in items
            if all(item.get(k) == v for k, v in sent.items() if isinstance(v, str | int))
        ]
        return matches[0] if len(matches) == 1 else None

    def writable_properties(self, op: Operation) -> set[str]:
        return {name for name, sub in properties(op.body_schema).items() if not sub.get("readOnly")}


def flatten_required(schema: dict[str, Any] | None) -> list[str]:
    from .values import flatten

    return list(flatten(schema or {}).get("required") or [])


def _typed(object_id: str, example: Any) -> Any:
    """The id as the schema wants it: a number where the example was one."""
    if isinstance(example, int) and not isinstance(example, bool) and object_id.isdigit():
        return int(object_id)
    return object_id


def _collection_names(name: str) -> set[str]:
    """The collection names a reference property or parameter may point to (`product_id` ->
    product, products; `category` -> categories)."""
    base = re.sub(r"(_id|Id|_uuid)$", "", name)
    plural = f"{base[:-1]}ies" if base.endswith("y") else f"{base}es"
    return {base, f"{base}s", plural}


def list_items(data: Any) -> list[dict[str, Any]]:
    """The objects of a list answer: a bare array, or one under a usual envelope key."""
    if isinstance(data, dict):
        data = next(
            (
                data[k]
                for k in ("items", "data", "results", "records")
                if isinstance(data.get(k), list)
            ),
            None,
        )
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def list_ids(data: Any) -> list[str]:
    return [i for i in (object_id_of(item) for item in list_items(data)) if i is not None]


def object_id_of(data: dict[str, Any]) -> str | None:
    for key in ID_KEYS:
        if key in data and isinstance(data[key], str | int) and not isinstance(data[key], bool):
            return str(data[key])
    return None
