"""For a backforge app: the static lint of its declaration, as findings located in the file."""

from __future__ import annotations

from ..context import AuditContext
from ..findings import Severity

NAME = "declaration_lint"
CATEGORY = "API5:2023"


def run(ctx: AuditContext) -> None:
    path = ctx.options.declaration
    if not path:
        return
    from backforge.spec.errors import DeclarationError
    from backforge.spec.lint import lint
    from backforge.spec.loader import load_file_located, locate

    try:
        spec, positions = load_file_located(path)
    except DeclarationError as exc:
        for problem in exc.problems:
            _report(ctx, path, problem, Severity.MEDIUM, "declaration-error")
        return
    for problem in locate(lint(spec), positions):
        public_write = "anyone" in problem.message
        severity = Severity.HIGH if public_write else Severity.INFO
        _report(
            ctx,
            path,
            problem,
            severity,
            "declaration-public-write" if public_write else "declaration-lint",
        )


def _report(ctx: AuditContext, path: str, problem: object, severity: Severity, rule: str) -> None:
    line = getattr(problem, "line", None)
    where = f"{path}:{line}" if line else path
    ctx.report(
        id=rule,
        title=f"Declaration: {getattr(problem, 'message', problem)}",
        severity=severity,
        category=CATEGORY,
        operation=f"{where} {getattr(problem, 'dotted_path', '')}".strip(),
        check=NAME,
        detail=f"{where}: {getattr(problem, 'message', problem)}",
        fix="Give the collection a rule that names who may do this (e.g. auth.id != null, "
        'auth.role = "staff"), then run `backforge check`.',
        location=(path, line),
    )
