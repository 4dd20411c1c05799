"""Applying plan files: in order, once, in a transaction, recorded, under a lock."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from migration_helpers import shop
from ruamel.yaml import YAML

from backforge.schema.migrations import (
    HISTORY_TABLE,
    ChecksumMismatchError,
    MigrationApplyError,
    PlanFileError,
    apply_migrations,
    migration_status,
)
from backforge.spec import load_dict


def test_history_records_name_checksum_and_time(migrator):
    plan = migrator.migrate(shop())
    ((name, checksum, applied_at),) = migrator.rows(
        f"SELECT name, checksum, applied_at FROM {HISTORY_TABLE}"
    )
    assert name == plan.name
    assert checksum == hashlib.sha256(plan.path.read_bytes()).hexdigest()
    assert applied_at is not None
    assert apply_migrations(migrator.engine, migrator.directory) == []


def test_pending_plans_apply_in_order(migrator):
    migrator.plan(shop())
    # a second plan can only be written once the first is applied; apply both at once later
    apply_migrations(migrator.engine, migrator.directory)
    declaration = shop()
    declaration["collections"]["products"]["fields"]["sku"] = {"type": "text"}
    second = migrator.plan(declaration)
    fresh = type(migrator)(migrator.engine, migrator.directory)
    # replay everything on a fresh database: both files, in order
    with migrator.engine.begin() as connection:
        for table in ("products", "categories", HISTORY_TABLE):
            connection.exec_driver_sql(f"DROP TABLE {table}")
    assert apply_migrations(fresh.engine, fresh.directory) == [
        "0001_create_categories_products",
        second.name,
    ]
    assert "sku" in fresh.columns("products")


def test_a_plan_edited_after_it_was_applied_is_an_error(migrator):
    plan = migrator.migrate(shop())
    plan.path.write_text(plan.path.read_text().replace("create collection", "make collection"))
    with pytest.raises(ChecksumMismatchError, match=plan.path.name):
        apply_migrations(migrator.engine, migrator.directory)
    with pytest.raises(ChecksumMismatchError):
        migrator.plan(shop())
    status = migration_status(migrator.engine, load_dict(shop()), migrator.directory)
    assert status.modified == [plan.name]
    assert not status.up_to_date


def test_a_failing_plan_changes_nothing(migrator):
    migrator.migrate(shop())
    migrator.insert("products", id="p1", name="Atlas")
    migrator.insert("products", id="p2", name="Atlas")
    declaration = shop()
    declaration["collections"]["products"]["fields"]["name"]["unique"] = True
    declaration["collections"]["products"]["fields"]["sku"] = {"type": "text"}
    plan = migrator.plan(declaration)
    with pytest.raises(MigrationApplyError, match=plan.name):
        apply_migrations(migrator.engine, migrator.directory)
    assert "sku" not in migrator.columns("products")
    assert migrator.rows(f"SELECT name FROM {HISTORY_TABLE}") == [
        ("0001_create_categories_products",)
    ]
    status = migration_status(migrator.engine, load_dict(declaration), migrator.directory)
    assert status.pending == [plan.name]


_APPLY_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from backforge.database import create_database_engine
    from backforge.schema.migrations import apply_migrations

    url, directory, ready, go = sys.argv[1:5]
    engine = create_database_engine(url)
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.005)
    print(json.dumps(apply_migrations(engine, Path(directory))))
    """
)
# Long enough that both processes are inside apply at the same time.
_SLOW = {
    "sqlite": [
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
        "SELECT count(*) FROM c"
    ],
    "postgresql": ["SELECT pg_sleep(1)"],
}


def test_two_processes_applying_at_once_apply_exactly_once(migrator, db_url, tmp_path):
    plan = migrator.plan(shop())
    yaml = YAML()
    document = yaml.load(plan.path.read_text())
    document["operations"].insert(
        0, {"op": "pause", "table": "-", "description": "test: hold the lock", "sql": _SLOW}
    )
    with plan.path.open("w") as f:
        yaml.dump(document, f)
    go = tmp_path / "go"
    processes = []
    for i in range(2):
        ready = tmp_path / f"ready{i}"
        processes.append(
            (
                ready,
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        _APPLY_SCRIPT,
                        db_url,
                        str(migrator.directory),
                        str(ready),
                        str(go),
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
    deadline = time.monotonic() + 60
    while not all(ready.exists() for ready, _ in processes):
        assert time.monotonic() < deadline, "the apply processes did not start"
        time.sleep(0.01)
    go.touch()
    results = []
    for _, process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(results) == [[], [plan.name]]
    assert migrator.rows(f"SELECT name FROM {HISTORY_TABLE}") == [(plan.name,)]
    assert {"categories", "products"} <= migrator.tables()


def test_plan_files_apply_without_the_declaration(migrator, tmp_path):
    """apply reads only the plan files: what was reviewed is what runs."""
    plan = migrator.plan(shop())
    copy_dir = tmp_path / "elsewhere"
    copy_dir.mkdir()
    (copy_dir / plan.path.name).write_bytes(plan.path.read_bytes())
    assert apply_migrations(migrator.engine, Path(copy_dir)) == [plan.name]


def test_a_plan_file_that_is_not_a_plan_is_refused(migrator):
    migrator.directory.mkdir(parents=True)
    (migrator.directory / "0001_by_hand.yaml").write_text("just: [text\n")
    with pytest.raises(PlanFileError, match="0001_by_hand"):
        apply_migrations(migrator.engine, migrator.directory)
    (migrator.directory / "0001_by_hand.yaml").write_text("operations: []\n")
    with pytest.raises(PlanFileError, match="not a backforge migration plan"):
        apply_migrations(migrator.engine, migrator.directory)


def test_status_notices_an_applied_plan_whose_file_is_gone(migrator):
    plan = migrator.migrate(shop())
    plan.path.unlink()
    status = migration_status(migrator.engine, load_dict(shop()), migrator.directory)
    assert status.missing_files == [plan.name]
