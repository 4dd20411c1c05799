"""The design loop: ask the model for a declaration, judge its answer as `backforge check`
does, and send the problems back until it validates or the rounds run out. Only a declaration
that validates is ever returned; nothing is written here."""

from __future__ import annotations

import io
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ..authoring import RULE_LANGUAGE, blueprint_texts
from ..blueprints import DECLARATION
from ..spec.errors import DeclarationError
from .chat import ChatModel

EXAMPLE_BLUEPRINT = "crm"  # roles, relations, to-many relations; no hooks
_FENCE = re.compile(r"```[a-zA-Z]*[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL)

SYSTEM = """You design backends for backforge, which serves a secure REST API from one
declaration. Answer with the declaration only: one JSON object following the JSON Schema of the
response format (the same structure as the YAML example below, as JSON).

Secure by default: declare a rule only for what each caller may do (a rule not declared admits
only admins); accounts live in a collection with `auth` (e.g. {{"signup": "open", "login":
["email"]}}); a role field is a readonly select; a record's owner is a relation with
`default: auth.id` and `readonly: true`; give every field limits (max_length, min, max); index
the fields rules and lists filter on. Do not declare `hooks` (no hooks file is written).

{rule_language}

An example (YAML):
{example}"""

REPAIR = """`backforge check` refused that declaration:
{problems}
Answer with the whole corrected declaration, as one JSON object."""


@dataclass
class Round:
    answer: str
    problems: list[str]


@dataclass
class Draft:
    """The declaration that validated (YAML), else None; each round's answer and problems."""

    text: str | None
    rounds: list[Round] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def system_prompt() -> str:
    return SYSTEM.format(rule_language=RULE_LANGUAGE, example=blueprint_texts()[EXAMPLE_BLUEPRINT])


def design_declaration(description: str, model: ChatModel, rounds: int) -> Draft:
    from ..spec.json_schema import declaration_json_schema

    schema = declaration_json_schema()
    messages = [
        {"role": "system", "content": system_prompt()},
        {"role": "user", "content": description},
    ]
    draft = Draft(None)
    for _ in range(rounds):
        answer = model.complete(messages, schema)
        text, problems, warnings = judge(answer)
        draft.rounds.append(Round(answer, problems))
        if not problems:
            draft.text, draft.warnings = text, warnings
            return draft
        messages.append({"role": "assistant", "content": answer})
        bullets = "\n".join(f"- {problem}" for problem in problems)
        messages.append({"role": "user", "content": REPAIR.format(problems=bullets)})
    return draft


def judge(answer: str) -> tuple[str | None, list[str], list[str]]:
    """The declaration in `answer` as YAML, its problems (errors) and its lint warnings."""
    declaration = _declaration_in(answer)
    if not isinstance(declaration, dict):
        return None, ["the answer is not a declaration: send one JSON object, nothing else"], []
    if "hooks" in declaration:
        return None, ["hooks: remove it; no hooks file is written with the declaration"], []
    text = to_yaml(declaration)
    return (text, *check_text(text))


def check_text(text: str) -> tuple[list[str], list[str]]:
    """`backforge check` of a declaration's text: its errors and its lint warnings."""
    from ..checks import load_checked
    from ..spec.lint import lint
    from ..spec.loader import locate

    with tempfile.TemporaryDirectory(prefix="backforge-design-") as folder:
        path = Path(folder) / DECLARATION
        path.write_text(text, encoding="utf-8")
        try:
            spec, positions = load_checked(path, user_code=False)
        except DeclarationError as exc:
            return [f"{p.dotted_path}: {p.message}" for p in exc.problems], []
        warnings = locate(lint(spec), positions)
    return [], [f"{p.dotted_path}: {p.message}" for p in warnings]


def to_yaml(declaration: dict[str, Any]) -> str:
    stream = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 100
    yaml.dump(declaration, stream)
    return stream.getvalue()


def _declaration_in(answer: str) -> Any:
    """A JSON object (some servers wrap it in a code fence; a few answer YAML, taken when it
    declares collections — prose is also valid YAML)."""
    fenced = _FENCE.search(answer)
    text = fenced.group(1) if fenced else answer
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        loaded = YAML(typ="safe").load(text)
    except YAMLError:
        return None
    return loaded if isinstance(loaded, dict) and "collections" in loaded else None
