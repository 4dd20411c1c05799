"""The five things the CLI and ``serve`` ask of migrations."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from ...spec.model import Spec
from ..tables import INTERNAL_PREFIX
from .diff import SchemaDiff, diff_schema
from .errors import (
    ChecksumMismatchError,
    DestructiveChangeError,
    MigrationRefusedError,
    PendingMigrationsError,
)
from .model import AppliedMigration, Change, MigrationPlan, MigrationStatus
from .planfile import (
    auto_slug,
    checksum,
    next_plan_name,
    plan_files,
    plan_statements,
    read_plan,
    write_plan,
)
from .render import render_changes
from .runner import ensure_history, locked_transaction, read_history, record, run_statements

AUTO_PREFIX = "auto_"
# Steps that only carry out others (how, not what): left out of reports to people.
_MECHANICS = frozenset({"rebuild_table", "rename_constraints"})
FIX_COMMAND = "backforge migrate plan FILE && backforge migrate apply FILE"


def plan_migration(
    engine: Engine,
    spec: Spec,
    migrations_dir: Path,
    *,
    allow_destructive: bool = False,
    name: str | None = None,
) -> MigrationPlan | None:
    """Write the next plan file for what the database lacks; None when nothing changes."""
    migrations_dir = Path(migrations_dir)
    with engine.connect() as connection:
        applied = read_history(connection)
        _check_files(migrations_dir, applied)
        pending = [p.stem for p in plan_files(migrations_dir) if p.stem not in applied]
        if pending:
            raise PendingMigrationsError(
                f"plan file(s) not applied yet: {', '.join(pending)}. Apply them first "
                "(backforge migrate apply FILE), then plan again."
            )
        diff = diff_schema(connection, spec)
        connection.rollback()
    if not diff.changes:
        return None
    _refuse(diff, allow_destructive)
    changes = render_changes(diff)
    plan_name = next_plan_name(migrations_dir, changes, name)
    path = migrations_dir / f"{plan_name}.yaml"
    write_plan(
        path, changes, planned_against=engine.dialect.name, allow_destructive=allow_destructive
    )
    return MigrationPlan(plan_name, path, changes, allow_destructive)


def apply_migrations(engine: Engine, migrations_dir: Path) -> list[str]:
    """Apply pending plan files in order, each in its own transaction. Returns their names."""
    migrations_dir = Path(migrations_dir)
    dialect = engine.dialect.name
    applied_now: list[str] = []
    while True:
        with locked_transaction(engine) as connection:
            ensure_history(connection)
            applied = read_history(connection)
            _check_files(migrations_dir, applied)
            pending = [p for p in plan_files(migrations_dir) if p.stem not in applied]
            if not pending:
                return applied_now
            path = pending[0]
            digest = checksum(path)
            statements = plan_statements(path, read_plan(path), dialect)
            run_statements(connection, path.stem, statements)
            if checksum(path) != digest:
                raise ChecksumMismatchError(f"{path} changed while it was being applied")
            record(connection, path.stem, digest)
        applied_now.append(path.stem)


def migration_status(engine: Engine, spec: Spec, migrations_dir: Path) -> MigrationStatus:
    migrations_dir = Path(migrations_dir)
    files = {p.stem: p for p in plan_files(migrations_dir)}
    with engine.connect() as connection:
        history = read_history(connection)
        applied = []
        for name, (recorded, applied_at) in history.items():
            if name.startswith(AUTO_PREFIX) and name not in files:
                applied.append(AppliedMigration(name, recorded, applied_at, None, True))
            elif name not in files:
                applied.append(AppliedMigration(name, recorded, applied_at, False, True))
            else:
                ok = checksum(files[name]) == recorded
                applied.append(AppliedMigration(name, recorded, applied_at, True, ok))
        pending = [name for name in files if name not in history]
        drift: list[Change] = []
        if not pending:
            drift = _for_people(diff_schema(connection, spec).changes)
        connection.rollback()
    return MigrationStatus(applied, pending, drift, drift_checked=not pending)


def pending_changes(engine: Engine, spec: Spec) -> list[Change]:
    """What the database lacks compared with the declaration (empty when it is up to date).

    The changes carry descriptions, not SQL: that is written by plan_migration.
    """
    with engine.connect() as connection:
        diff = diff_schema(connection, spec)
        connection.rollback()
    return _for_people(diff.changes)


def auto_apply(engine: Engine, spec: Spec) -> list[Change]:
    """Development mode: apply the non-destructive changes now, recorded in the history.

    Destructive or refused changes raise before anything runs; they need a reviewed plan.
    Returns the changes applied (without the steps that only carry them out).
    """
    with locked_transaction(engine) as connection:
        ensure_history(connection)
        diff = diff_schema(connection, spec)
        if not diff.changes:
            return []
        hint = FIX_COMMAND.replace("plan FILE", "plan FILE --allow-destructive")
        _refuse(diff, allow_destructive=False, hint=hint)
        changes = render_changes(diff)
        statements = [s for c in changes for s in c.sql[engine.dialect.name]]
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
        name = f"{AUTO_PREFIX}{stamp}_{auto_slug(changes)}"[:255]
        run_statements(connection, name, statements)
        digest = hashlib.sha256(
            json.dumps([c.as_dict() for c in changes], sort_keys=True).encode()
        ).hexdigest()
        record(connection, name, digest)
    return _for_people(changes)


def summarize(changes: list[Change]) -> str | None:
    """One line for changes (what `auto_apply` did, or what a plan would do): the user's
    collections by change, backforge's own tables (accounts, jobs) as a count. None when
    nothing changes."""
    if not changes:
        return None
    mine = [
        c.description.split(" (", 1)[0] for c in changes if not c.table.startswith(INTERNAL_PREFIX)
    ]
    internal = len(changes) - len(mine)
    if internal:
        mine.append(f"{internal} change(s) to backforge's own tables")
    return "; ".join(mine)


def _for_people(changes: list[Change]) -> list[Change]:
    return [change for change in changes if change.op not in _MECHANICS]


def _refuse(diff: SchemaDiff, allow_destructive: bool, hint: str | None = None) -> None:
    if diff.refusals:
        raise MigrationRefusedError(
            "cannot migrate safely:\n" + "\n".join(f"  - {r}" for r in diff.refusals)
        )
    if diff.destructive and not allow_destructive:
        error = DestructiveChangeError(diff.destructive)
        if hint:
            error.args = (str(error) + f"\nUse: {hint}",)
        raise error


def _check_files(directory: Path, applied: dict) -> None:
    edited = [
        p.name
        for p in plan_files(directory)
        if p.stem in applied and checksum(p) != applied[p.stem][0]
    ]
    if edited:
        raise ChecksumMismatchError(
            f"plan file(s) changed after they were applied: {', '.join(edited)}. Restore them "
            "(e.g. from version control); to change the schema further, plan a new migration."
        )
