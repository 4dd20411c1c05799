"""What the author of a declaration — a person, a coding agent, a language model — is given to
write one: the rule language in brief, the one-collection starter and the blueprints."""

from __future__ import annotations

from importlib.resources import files

from .blueprints import DECLARATION, blueprint_names


def starter_text() -> str:
    return (files("backforge") / "starter.yaml").read_text(encoding="utf-8")


def blueprint_texts() -> dict[str, str]:
    """Each blueprint's declaration, by name."""
    folder = files("backforge") / "blueprints"
    return {
        name: (folder / name / DECLARATION).read_text(encoding="utf-8")
        for name in blueprint_names()
    }


RULE_LANGUAGE = """A rule is `public` or an expression; a rule not declared admits only admins.
Names: the record's fields (and paths through relations: author.name), `auth.id`,
`auth.collection`, `auth.admin`, any field of the caller's record (auth.role) and one hop from
it (auth.team.name), `body.<field>` (the values being written). Operators: = != < <= > >=
~ (contains) !~, `in [..]`, `not in [..]`, && || ! and parentheses; literals "text", 12, true,
false, null; any(relation, condition) and count(relation, condition) over to-many relations.
Examples: `owner = auth.id`, `published = true || author = auth.id`, `auth.role = "staff"`,
`any(project.team.memberships, user = auth.id)`. Fields may add `hidden: true`, `readonly:
true`, `read: <rule>`, `write: <rule>`."""
