"""Complete starting points for `backforge init --blueprint NAME`: a declaration with its rules,
indexes and, where the domain needs logic, its hooks file. Each is checked, served, fuzzed with
schemathesis and audited by the tests (tests/e2e/test_blueprints.py)."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

DECLARATION = "backforge.yaml"


def blueprint_names() -> list[str]:
    folder = files("backforge") / "blueprints"
    return sorted(
        entry.name
        for entry in folder.iterdir()
        if entry.is_dir() and (entry / DECLARATION).is_file()
    )


def write_blueprint(name: str, directory: Path, project_name: str) -> list[Path]:
    """The blueprint's files in `directory`, the declaration named `project_name`; the files
    written. Nothing is written when one of them exists already (FileExistsError)."""
    source = files("backforge") / "blueprints" / name
    chosen = [e for e in source.iterdir() if e.is_file() and e.name.endswith((".yaml", ".py"))]
    targets = [directory / entry.name for entry in chosen]
    present = [target for target in targets if target.exists()]
    if present:
        raise FileExistsError(", ".join(str(p) for p in present))
    for entry, target in zip(chosen, targets, strict=True):
        text = entry.read_text(encoding="utf-8")
        if entry.name == DECLARATION:
            text = re.sub(r"(?m)^name: .*$", f"name: {project_name}", text, count=1)
        target.write_text(text, encoding="utf-8")
    return targets
