"""`backforge check` as data, run in a child process by the agent tools: the hooks file it
imports is the user's code, which must neither crash nor hang the MCP server, and is imported
afresh at every check. A hooks file outside the project directory is refused, never imported.

    python -P -m backforge.agent.checking FILE ROOT   # prints {"ok": ..., "problems": [...]}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..spec.errors import DeclarationError, Problem


def check_report(path: Path, root: Path) -> dict[str, Any]:
    """Every problem of the declaration and its hooks file (errors and lint warnings), each
    with its line and key path, and a summary of what it declares when it is valid."""
    from ..checks import load_checked
    from ..spec.lint import lint
    from ..spec.loader import load_file_located, locate

    try:
        spec, positions = load_file_located(path)
        hooks = (path.parent / spec.hooks).resolve() if spec.hooks else None
        if hooks is not None and not hooks.is_relative_to(root.resolve()):
            problem = Problem(("hooks",), "the hooks file must be inside the project directory")
            raise DeclarationError(str(path), locate([problem], positions))
        spec, positions = load_checked(path, user_code=True)
    except DeclarationError as exc:
        return {"ok": False, "problems": [_problem(p) for p in exc.problems]}
    warnings = locate(lint(spec), positions)
    collections = {
        name: {
            "fields": list(collection.fields),
            "rules": collection.rules.declared(),
            "accounts": collection.auth_options is not None,
        }
        for name, collection in spec.collections.items()
        if collection.link_of is None
    }
    return {
        "ok": True,
        "problems": [_problem(p) for p in warnings],
        "name": spec.name,
        "collections": collections,
        "routes": len(spec.routes),
        "jobs": sorted(spec.jobs),
    }


def _problem(problem: Problem) -> dict[str, Any]:
    return {
        "severity": problem.severity,
        "line": problem.line,
        "column": problem.column,
        "key": problem.dotted_path,
        "message": problem.message,
    }


if __name__ == "__main__":
    # What the hooks file prints goes to stderr: stdout carries the report alone.
    report_stream, sys.stdout = sys.stdout, sys.stderr
    report = check_report(Path(sys.argv[1]), Path(sys.argv[2]))
    report_stream.write(json.dumps(report, default=str) + "\n")
