"""Plan files: ``migrations/NNNN_<slug>.yaml``, written for review, applied as written.

A plan lists its steps in order. Each step has the op, the table (and column), a description for
the reviewer, whether it is destructive, and the SQL it runs on each database. ``apply`` runs
exactly that SQL, so what was reviewed is what runs; the file's SHA-256 is recorded when it is
applied, and a file edited afterwards is refused.
"""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

from .errors import PlanFileError
from .model import Change

FORMAT_VERSION = 1
SUFFIX = ".yaml"
_PLAN_NAME = re.compile(r"^(\d{4,})_[a-z0-9_]+$")
_HEADER = """\
# backforge migration plan. Review it, then apply it: backforge migrate apply <declaration>
# Each operation lists the SQL it runs on SQLite and on PostgreSQL; apply runs exactly that SQL,
# in one transaction. Once applied, this file must not change (its checksum is recorded).
"""


def plan_files(directory: Path) -> list[Path]:
    """The plan files of a directory, in the order they apply."""
    if not directory.is_dir():
        return []
    files = [p for p in directory.iterdir() if p.suffix == SUFFIX and _PLAN_NAME.match(p.stem)]
    return sorted(files, key=lambda p: (int(_PLAN_NAME.match(p.stem).group(1)), p.stem))


def checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def next_plan_name(directory: Path, changes: list[Change], name: str | None) -> str:
    numbers = [int(_PLAN_NAME.match(p.stem).group(1)) for p in plan_files(directory)]
    number = max(numbers, default=0) + 1
    return f"{number:04d}_{slugify(name) if name else auto_slug(changes)}"


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug[:60].rstrip("_") or "migration"


def auto_slug(changes: list[Change]) -> str:
    """e.g. create_categories_products, add_products_price, rename_products"""
    targets: dict[str, list[str]] = {}
    for change in changes:
        if change.op in ("rebuild_table", "rename_constraints") or change.table.startswith("_bf_"):
            continue  # a plan is named after the user's collections, not backforge's tables
        verb = change.op.split("_")[0]
        target = f"{change.table}_{change.column}" if change.column else change.table
        if target not in targets.setdefault(verb, []):
            targets[verb].append(target)
    phrases = [
        f"{verb}_{'_'.join(names[:3])}" + ("_and_more" if len(names) > 3 else "")
        for verb, names in targets.items()
    ]
    if not phrases:
        return "backforge_tables"
    slug = slugify("_".join(phrases[:2]))
    return slug if len(phrases) <= 2 else slug[:50] + "_and_more"


def write_plan(
    path: Path,
    changes: list[Change],
    *,
    planned_against: str,
    allow_destructive: bool,
) -> None:
    document: dict[str, Any] = {
        "backforge_migration": FORMAT_VERSION,
        "name": path.stem,
        "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "planned_against": planned_against,
        "destructive": any(c.destructive for c in changes),
        "allow_destructive": allow_destructive,
        "operations": _operations(changes),
    }
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_HEADER + buffer.getvalue(), encoding="utf-8")


def read_plan(path: Path) -> list[Change]:
    try:
        document = _yaml().load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as exc:
        raise PlanFileError(f"{path}: cannot read the plan: {exc}") from None
    if not isinstance(document, dict) or document.get("backforge_migration") != FORMAT_VERSION:
        raise PlanFileError(f"{path}: not a backforge migration plan (format {FORMAT_VERSION})")
    operations = document.get("operations")
    if not isinstance(operations, list):
        raise PlanFileError(f"{path}: 'operations' must be a list")
    try:
        return [Change.from_dict(op) for op in operations]
    except (KeyError, TypeError, AttributeError) as exc:
        raise PlanFileError(f"{path}: malformed operation ({exc})") from None


def plan_statements(path: Path, changes: list[Change], dialect: str) -> list[str]:
    statements = []
    for change in changes:
        if dialect not in change.sql:
            raise PlanFileError(f"{path}: operation '{change.op}' has no SQL for {dialect}")
        statements.extend(change.sql[dialect])
    return statements


def _operations(changes: list[Change]) -> list[CommentedMap]:
    rebuilt = {c.table for c in changes if c.op == "rebuild_table" and c.sql.get("sqlite")}
    operations = []
    for change in changes:
        data = change.as_dict()
        sql = CommentedMap(
            (dialect, [LiteralScalarString(s) if "\n" in s else s for s in statements])
            for dialect, statements in data["sql"].items()
        )
        if change.table in rebuilt and not sql.get("sqlite") and change.op != "rebuild_table":
            sql.yaml_add_eol_comment(f"done by the rebuild of {change.table} below", "sqlite")
        elif change.details.get("new_table") and not sql.get("sqlite"):
            sql.yaml_add_eol_comment(f"in the CREATE TABLE of {change.table} above", "sqlite")
        elif change.details.get("dropped_table") and not sql.get("sqlite"):
            sql.yaml_add_eol_comment("foreign keys are off while SQLite migrates", "sqlite")
        data["sql"] = sql
        operations.append(CommentedMap(data))
    return operations


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 4096  # never fold a SQL statement or a description across lines
    yaml.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml
