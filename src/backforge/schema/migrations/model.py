"""The values that planning, applying and status reports pass around."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

DIALECTS = ("sqlite", "postgresql")


@dataclass
class Change:
    """One step from the database as it is towards the declaration.

    ``table`` is the table's name after the migration; ``details`` holds what the SQL renderer and
    a reviewer need (old names, old and new values); ``sql`` maps a dialect name to the statements
    this step runs there (an empty list when another step, such as a SQLite rebuild, covers it).
    """

    op: str
    table: str
    description: str
    destructive: bool = False
    column: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    sql: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # SQLAlchemy hands out str subclasses (quoted_name, conv); keep plain values only.
        self.table = str(self.table)
        self.column = None if self.column is None else str(self.column)
        self.details = _plain(self.details)

    def __str__(self) -> str:
        return self.description + (" [destructive]" if self.destructive else "")

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.op, "table": self.table}
        if self.column is not None:
            data["column"] = self.column
        data["description"] = self.description
        data["destructive"] = self.destructive
        if self.details:
            data["details"] = self.details
        data["sql"] = {dialect: list(self.sql.get(dialect, [])) for dialect in DIALECTS}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        return cls(
            op=str(data["op"]),
            table=str(data["table"]),
            column=data.get("column"),
            description=str(data.get("description", "")),
            destructive=bool(data.get("destructive", False)),
            details=dict(data.get("details") or {}),
            sql={k: [str(s) for s in v or []] for k, v in (data.get("sql") or {}).items()},
        )


@dataclass
class MigrationPlan:
    """A plan file: its name (``NNNN_slug``), where it was written and what it does."""

    name: str
    path: Path
    changes: list[Change]
    allow_destructive: bool = False

    @property
    def destructive(self) -> bool:
        return any(change.destructive for change in self.changes)


@dataclass
class AppliedMigration:
    name: str
    checksum: str
    applied_at: datetime
    # None for changes applied by auto_apply (no file); False when the file is gone.
    file_present: bool | None = True
    checksum_ok: bool = True

    def __str__(self) -> str:
        return self.name

    def __rich__(self) -> str:  # shown by name in rich tables
        return self.name


@dataclass
class MigrationStatus:
    applied: list[AppliedMigration]
    pending: list[str]
    drift: list[Change]
    # False when pending files exist: the drift would repeat what they already plan.
    drift_checked: bool = True

    @property
    def modified(self) -> list[str]:
        return [m.name for m in self.applied if not m.checksum_ok]

    @property
    def missing_files(self) -> list[str]:
        return [m.name for m in self.applied if m.file_present is False]

    @property
    def up_to_date(self) -> bool:
        return not self.pending and not self.drift and not self.modified


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value
