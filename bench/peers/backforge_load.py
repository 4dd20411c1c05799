"""Load the data set into backforge's own database, run with backforge's interpreter.

    python backforge_load.py DECLARATION DATABASE_URL DATASET [--schema]

With --schema the tables are created from the declaration (SQLAlchemy metadata), for
when `backforge migrate` is not available; otherwise the schema must already exist.
Rows go in through SQLAlchemy Core with backforge's own table definitions, so column
types and datetime storage are exactly what the engine reads back.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

from sqlalchemy import insert

from backforge.database import create_database_engine
from backforge.schema import build_metadata
from backforge.spec import load_file


def main(declaration: str, url: str, dataset: str, create_schema: bool) -> None:
    spec = load_file(declaration)
    metadata = build_metadata(spec)
    engine = create_database_engine(url)
    if create_schema:
        metadata.create_all(engine)
    table = metadata.tables["posts"]
    with open(dataset) as f:
        posts = json.load(f)
    rows = []
    for p in posts:
        created = datetime.fromisoformat(p["created"])
        row = {k: v for k, v in p.items() if k in table.c}
        row.update(created=created, updated=created)
        if "version" in table.c:
            row["version"] = 1
        rows.append(row)
    with engine.begin() as conn:
        conn.execute(insert(table), rows)
    engine.dispose()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(*args, create_schema="--schema" in sys.argv)
