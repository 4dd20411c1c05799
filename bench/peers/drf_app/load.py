"""Create the schema and bulk-load the data set: python -m drf_app.load DB DATASET."""

import json
import os
import sys
from datetime import datetime


def main(db_path: str, data_path: str) -> None:
    os.environ["BENCH_DB"] = db_path
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drf_app.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from drf_app.models import Post

    call_command("migrate", run_syncdb=True, verbosity=0)
    with open(data_path) as f:
        rows = json.load(f)
    for row in rows:
        row["created"] = datetime.fromisoformat(row["created"])
    Post.objects.bulk_create([Post(**row) for row in rows], batch_size=1000)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
