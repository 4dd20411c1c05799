"""Load the data set into backforge's own database, run with backforge's interpreter.

    python backforge_load.py DECLARATION DATABASE_URL DATASET [--schema] [--truncate]

With --schema the tables are created from the declaration (SQLAlchemy metadata), for
when `backforge migrate` is not available; otherwise the schema must already exist.
Rows go in through SQLAlchemy Core with backforge's own table definitions, so column
types and datetime storage are exactly what the engine reads back.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

from sqlalchemy import delete, insert

from backforge.database import create_database_engine
from backforge.schema import build_metadata
from backforge.spec import load_file


def author_id(name: str) -> str:
    """author-042 -> author000000042: a stable 15-character id per author."""
    return "author" + name.rsplit("-", 1)[-1].zfill(9)


def main(declaration: str, url: str, dataset: str, create_schema: bool, truncate: bool) -> None:
    spec = load_file(declaration)
    metadata = build_metadata(spec)
    engine = create_database_engine(url)
    if create_schema:
        metadata.create_all(engine)
    table = metadata.tables["posts"]
    authors = metadata.tables.get("authors")
    with open(dataset) as f:
        posts = json.load(f)
    people = sorted({p["author"] for p in posts})
    writers = []
    for name in people:
        when = datetime.fromisoformat(posts[0]["created"])
        writers.append({"id": author_id(name), "name": name, "created": when, "updated": when})
    rows = []
    for p in posts:
        created = datetime.fromisoformat(p["created"])
        row = {k: v for k, v in p.items() if k in table.c}
        row.update(created=created, updated=created)
        if "writer" in table.c:
            row["writer"] = author_id(p["author"])
        if "version" in table.c:
            row["version"] = 1
        rows.append(row)
    with engine.begin() as conn:
        if truncate:
            conn.execute(delete(table))
            if authors is not None:
                conn.execute(delete(authors))
        if authors is not None:
            conn.execute(insert(authors), writers)
        conn.execute(insert(table), rows)
        if truncate and engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"ANALYZE {table.name}")
    engine.dispose()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(*args, create_schema="--schema" in sys.argv, truncate="--truncate" in sys.argv)
