"""A declaration checked as a whole before it is served: the file, its rules, jobs, conditions,
routes and the hooks file it names. `backforge check`, `serve` and each reload of
`serve --dev` run the same checks, so what one accepts the others serve."""

from __future__ import annotations

from pathlib import Path

from .extras import declaration_problems
from .spec import DeclarationError, Spec
from .spec.loader import Positions, load_file_located, locate


def load_checked(path: Path | str, user_code: bool = True) -> tuple[Spec, Positions]:
    """The declaration and where each of its keys is; DeclarationError naming every problem
    with its line. `user_code`: import the hooks file and check it against the declaration
    (`check` and serving do; `migrate` and the other commands leave user code alone)."""
    from .schema.tables import build_metadata
    from .spec.jobs import check_jobs
    from .store.access import check_rules

    spec, positions = load_file_located(Path(path))
    lacking = declaration_problems(spec)
    if lacking:  # the checks below would import what is missing
        raise DeclarationError(str(path), locate(lacking, positions))
    tables = build_metadata(spec).tables
    problems = check_rules(spec, tables)
    problems += list(check_jobs(spec))
    if spec.jobs or spec.webhooks:
        from .jobs.conditions import check_conditions

        problems += check_conditions(spec, tables)
    if spec.routes or spec.shapes:
        from .http.declared import check_routes_of

        problems += check_routes_of(spec)
    if user_code and (spec.hooks or spec.jobs or spec.cron):
        from .user_code import load_hooks_module, user_code_problems

        # Imports the user's hooks file, as serving does: a missing file, a failing import or
        # a handler it lacks is named here, not in a traceback from the server process.
        try:
            problems += user_code_problems(spec, load_hooks_module(spec, path))
        except DeclarationError as exc:
            problems += exc.problems
    if problems:
        raise DeclarationError(str(path), locate(problems, positions))
    return spec, positions
