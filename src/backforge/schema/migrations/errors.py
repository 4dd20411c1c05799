"""What can go wrong while planning or applying a migration."""

from __future__ import annotations


class MigrationError(Exception):
    """Base of every migration failure; the message is written for the person at the terminal."""


class DestructiveChangeError(MigrationError):
    """The plan would lose data and allow_destructive was not given."""

    def __init__(self, changes: list) -> None:
        self.changes = changes
        lines = "\n".join(f"  - {change.description}" for change in changes)
        super().__init__(
            "refusing to plan destructive changes:\n"
            f"{lines}\n"
            "Review them, then plan again with --allow-destructive to accept them."
        )


class MigrationRefusedError(MigrationError):
    """A change no flag makes safe (e.g. a required column without default on a table with rows)."""


class PendingMigrationsError(MigrationError):
    """Plan files exist that the database has not applied yet."""


class ChecksumMismatchError(MigrationError):
    """A plan file was edited after it was applied."""


class ForeignKeyCheckError(MigrationError):
    """After a SQLite table rebuild, some rows point at rows that do not exist."""


class MigrationApplyError(MigrationError):
    """The database rejected a statement of a plan; the plan's transaction was rolled back."""


class PlanFileError(MigrationError):
    """A plan file that cannot be read (bad YAML, wrong shape, no SQL for this database)."""
