"""Migrations: compare the live database with the declaration, write a plan file for review,
apply plan files in order under a lock, and report status.

    plan = plan_migration(engine, spec, Path("migrations"))   # writes migrations/NNNN_slug.yaml
    apply_migrations(engine, Path("migrations"))              # runs the pending plans, in order

How it fits together:

- diff.py compares with Alembic's autogenerate API; renames.py and selects.py add what Alembic
  cannot see (``renamed_from``, select values); widening.py says which type changes lose data.
- render.py writes the SQL of every step for SQLite *and* PostgreSQL, so one migrations folder
  serves both; SQLite rebuilds a table when it cannot ALTER it.
- planfile.py writes and reads the YAML plan files; runner.py holds the lock (BEGIN IMMEDIATE on
  SQLite with foreign keys off and checked, an advisory lock on PostgreSQL) and the history table
  ``_bf_migrations`` (name, checksum, applied_at).
- api.py is the public surface: plan_migration, apply_migrations, migration_status,
  pending_changes (for ``serve``) and auto_apply (``serve --dev``).
"""

from .api import (
    FIX_COMMAND,
    apply_migrations,
    auto_apply,
    migration_status,
    pending_changes,
    plan_migration,
    summarize,
)
from .errors import (
    ChecksumMismatchError,
    DestructiveChangeError,
    ForeignKeyCheckError,
    MigrationApplyError,
    MigrationError,
    MigrationRefusedError,
    PendingMigrationsError,
    PlanFileError,
)
from .model import AppliedMigration, Change, MigrationPlan, MigrationStatus
from .runner import HISTORY_TABLE

__all__ = [
    "FIX_COMMAND",
    "HISTORY_TABLE",
    "AppliedMigration",
    "Change",
    "ChecksumMismatchError",
    "DestructiveChangeError",
    "ForeignKeyCheckError",
    "MigrationApplyError",
    "MigrationError",
    "MigrationPlan",
    "MigrationRefusedError",
    "MigrationStatus",
    "PendingMigrationsError",
    "PlanFileError",
    "apply_migrations",
    "auto_apply",
    "migration_status",
    "pending_changes",
    "plan_migration",
    "summarize",
]
