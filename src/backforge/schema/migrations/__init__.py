"""Migrations: compare the live database with the declaration, write a plan file for review,
apply plan files in order under a lock, and report status.

    plan = plan_migration(engine, spec, Path("migrations"))   # writes migrations/NNNN_slug.yaml
    apply_migrations(engine, Path("migrations"))              # runs the pending plans, in order
"""

from .api import (
    FIX_COMMAND,
    apply_migrations,
    auto_apply,
    migration_status,
    pending_changes,
    plan_migration,
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
]
