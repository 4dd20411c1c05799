"""How every SQLite connection is set up, and that reads through the memory map see what
another connection (or process) has just committed."""

from __future__ import annotations

import sqlite3

from sqlalchemy import text

from backforge.database import BUSY_TIMEOUT_MS, MMAP_BYTES, create_database_engine


def test_every_connection_is_configured(tmp_path):
    engine = create_database_engine(f"sqlite:///{tmp_path / 'app.db'}")
    with engine.connect() as connection:
        setting = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout", "mmap_size")
        }
    assert setting == {
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL
        "foreign_keys": 1,
        "busy_timeout": BUSY_TIMEOUT_MS,
        "mmap_size": MMAP_BYTES,
    }


def test_a_mapped_reader_sees_each_commit_of_another_connection(tmp_path):
    path = tmp_path / "app.db"
    engine = create_database_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    reader = engine.raw_connection()
    try:
        writer = sqlite3.connect(path, isolation_level=None)  # as another process would
        for round_ in range(3):
            # Enough rows to move pages and grow the file past what was mapped before.
            writer.executemany(
                "INSERT INTO t (v) VALUES (?)", [(f"{round_}-{i}" * 40,) for i in range(500)]
            )
            count, last = reader.execute("SELECT count(*), max(id) FROM t").fetchone()
            assert (count, last) == (500 * (round_ + 1), 500 * (round_ + 1))
        writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the rows move into the mapped file
        assert reader.execute("SELECT v FROM t WHERE id = 1500").fetchone() == ("2-499" * 40,)
        writer.close()
    finally:
        reader.close()
