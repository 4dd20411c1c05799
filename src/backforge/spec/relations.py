"""To-many relations: their checks, and the link collections backforge keeps for stored ones."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .errors import Problem, did_you_mean
from .model import IDENTIFIER, SYSTEM_FIELDS, Collection, Field, Relation, Spec

# The two relation fields of a link collection: the record holding the relation, and the one
# it names.
LINK_OWNER = "owner"
LINK_MEMBER = "member"
KEY_TYPES = frozenset({"text", "email", "url", "int", "select"})


@dataclass(frozen=True)
class Link:
    """How a to-many relation reaches its records, as SQL needs it: rows of `table` whose
    `near` field holds the owner's id; their `far` field holds the related record's id, or
    (`far` None, a one-to-many relation) the rows are the related records themselves."""

    table: str
    near: str
    far: str | None
    to: str


def link_collection_name(collection: str, relation: str) -> str:
    return f"{collection}_{relation}"


def resolve_link(spec: Spec, collection: str, relation: Relation, name: str) -> Link:
    """The link of a relation that passed `check_relations`."""
    if relation.via is not None:
        return Link(relation.to, relation.via, None, relation.to)
    if relation.through is None:
        return Link(link_collection_name(collection, name), LINK_OWNER, LINK_MEMBER, relation.to)
    near, far = _through_fields(spec, collection, relation)
    assert near is not None and far is not None
    return Link(relation.through, near, far, relation.to)


def check_relations(spec: Spec) -> Iterator[Problem]:
    for name, collection in spec.collections.items():
        for relation_name, relation in collection.relations.items():
            path = ("collections", name, "relations", relation_name)
            yield from _check_relation(spec, name, collection, relation_name, relation, path)
        known = [*collection.fields, *SYSTEM_FIELDS]
        for i, fields in enumerate(collection.unique):
            if not fields:
                yield Problem(("collections", name, "unique", i), "list at least one field")
            for j, field_name in enumerate(fields):
                field = collection.fields.get(field_name)
                if field_name not in known:
                    yield Problem(
                        ("collections", name, "unique", i, j),
                        f"unknown field '{field_name}'{did_you_mean(field_name, known)}",
                    )
                elif field is not None and field.type == "json":
                    yield Problem(("collections", name, "unique", i, j), "json is not comparable")


def _check_relation(
    spec: Spec, name: str, collection: Collection, relation_name: str, relation: Relation, path
) -> Iterator[Problem]:
    if not IDENTIFIER.match(relation_name):
        yield Problem(path, "a relation name is lowercase letters, digits and '_'")
    if relation_name in collection.fields or relation_name in SYSTEM_FIELDS:
        yield Problem(path, f"'{relation_name}' is already a field of {name}")
    target = spec.collections.get(relation.to)
    if target is None:
        yield Problem(
            (*path, "to"),
            f"unknown collection '{relation.to}'{did_you_mean(relation.to, spec.collections)}",
        )
        return
    if relation.via is not None and relation.through is not None:
        yield Problem(path, "a relation goes either via a field or through a collection, not both")
        return
    if relation.via is not None:
        field = target.fields.get(relation.via)
        if field is None or field.type != "relation" or field.to != name:
            pointing = [
                n for n, f in target.fields.items() if f.type == "relation" and f.to == name
            ]
            hint = f" (it has: {', '.join(pointing)})" if pointing else ""
            yield Problem(
                (*path, "via"),
                f"'via' names a relation field of {relation.to} that points to {name}{hint}",
            )
    elif relation.through is not None:
        if relation.through not in spec.collections:
            yield Problem(
                (*path, "through"),
                f"unknown collection '{relation.through}'"
                f"{did_you_mean(relation.through, spec.collections)}",
            )
            return
        near, far = _through_fields(spec, name, relation)
        if near is None or far is None:
            yield Problem(
                (*path, "through_fields"),
                f"name the two relation fields of {relation.through}: the one pointing to {name}, "
                f"then the one pointing to {relation.to}, e.g. through_fields: [a, b]",
            )
    else:
        link = link_collection_name(name, relation_name)
        if link in spec.collections and spec.collections[link].link_of is None:
            yield Problem(path, f"the link table '{link}' would clash with the collection '{link}'")
    if relation.through_fields is not None and relation.through is None:
        yield Problem((*path, "through_fields"), "through_fields needs 'through'")
    if relation.key is not None:
        key_field = target.fields.get(relation.key)
        if not relation.stored:
            yield Problem((*path, "key"), "'key' applies to relations without via or through")
        elif key_field is None or not key_field.unique or key_field.type not in KEY_TYPES:
            yield Problem(
                (*path, "key"),
                f"'key' names a unique text or number field of {relation.to}",
            )
    if relation.create_missing and relation.key is None:
        yield Problem((*path, "create_missing"), "create_missing needs 'key'")
    if relation.reference != "visible" and not relation.stored:
        yield Problem(
            (*path, "reference"),
            "'reference' applies to relations without via or through (a through collection's "
            "relation field says it: reference: any)",
        )


def _through_fields(spec: Spec, name: str, relation: Relation) -> tuple[str | None, str | None]:
    """The through collection's fields pointing to the owner and to the target, or None where
    they cannot be told apart."""
    assert relation.through is not None
    fields = spec.collections[relation.through].fields

    def points(field_name: str, target: str) -> bool:
        field = fields.get(field_name)
        return field is not None and field.type == "relation" and field.to == target

    if relation.through_fields is not None:
        if len(relation.through_fields) != 2:
            return None, None
        near, far = relation.through_fields
        if near == far or not points(near, name) or not points(far, relation.to):
            return None, None
        return near, far
    nears = [n for n in fields if points(n, name)]
    fars = [n for n in fields if points(n, relation.to)]
    if len(nears) != 1 or len(fars) != 1 or nears == fars:
        return None, None
    return nears[0], fars[0]


def with_link_collections(spec: Spec) -> Spec:
    """The spec with a link collection for every stored relation (see Relation)."""
    collections = dict(spec.collections)
    for name, collection in spec.collections.items():
        for relation_name, relation in collection.relations.items():
            if not relation.stored:
                continue
            link = Collection(
                fields={
                    LINK_OWNER: Field(type="relation", to=name, required=True, on_delete="cascade"),
                    LINK_MEMBER: Field(
                        type="relation", to=relation.to, required=True, on_delete="cascade"
                    ),
                },
                unique=[[LINK_OWNER, LINK_MEMBER]],
                record_routes=False,
                description=f"Links of {name}.{relation_name} (kept by backforge).",
            )
            link._link_of = (name, relation_name)
            collections[link_collection_name(name, relation_name)] = link
    return spec.model_copy(update={"collections": collections})


def cycle_edges(targets: dict[str, set[str]]) -> set[tuple[str, str]]:
    """The edges (a, b), a != b, of a graph of tables that lie on a cycle: b leads back to a."""

    def reaches(start: str, goal: str) -> bool:
        seen, pending = set(), [start]
        while pending:
            current = pending.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                pending.extend(targets.get(current, ()))
        return False

    return {(a, b) for a, bs in targets.items() for b in bs if a != b and reaches(b, a)}
