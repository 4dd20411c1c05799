"""The benchmark data set: deterministic posts, generated from a fixed seed.

Every server loads the same rows with the same ids, so one list of ids serves the
`get` workload everywhere. Ids are 15 characters of [a-z0-9], the shape PocketBase
requires, which every other peer stores as a text primary key.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

SEED = 20260101
STATUSES = ("draft", "published", "archived")
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
WORDS = [
    "atlas",
    "river",
    "engine",
    "garden",
    "signal",
    "harbor",
    "lantern",
    "meadow",
    "orbit",
    "quartz",
    "summit",
    "timber",
    "velvet",
    "willow",
    "ember",
    "falcon",
    "glacier",
    "horizon",
    "island",
    "jasper",
    "kernel",
    "ledger",
    "marble",
    "nectar",
    "oasis",
    "prism",
    "quiver",
    "rocket",
    "saddle",
    "tundra",
]


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def make_posts(n: int = 10_000, seed: int = SEED) -> list[dict]:
    """Return n posts sorted oldest first; `created` is unique and ISO-8601 UTC."""
    rng = random.Random(seed)
    ids: set[str] = set()
    posts = []
    for i in range(n):
        while True:
            pid = "".join(rng.choice(ID_ALPHABET) for _ in range(15))
            if pid not in ids:
                ids.add(pid)
                break
        # Unique, increasing timestamps about 50 minutes apart, with jitter in ms.
        created = BASE_TIME + timedelta(minutes=50 * i, milliseconds=rng.randrange(60_000))
        posts.append(
            {
                "id": pid,
                "title": _words(rng, rng.randint(3, 8)).capitalize(),
                "body": _words(rng, rng.randint(8, 24)).capitalize() + ".",
                "author": f"author-{rng.randrange(200):03d}",
                "status": rng.choice(STATUSES),
                "views": rng.randint(0, 1000),
                "created": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            }
        )
    return posts


def expected_counts(posts: list[dict]) -> dict[str, int]:
    """The totals every server must report, checked before any load is sent."""
    return {
        "all": len(posts),
        "filter": sum(1 for p in posts if p["status"] == "published" and p["views"] > 500),
    }


def write_dataset(path: Path, n: int = 10_000) -> list[dict]:
    """Write the posts as JSON (for the peers' loaders) and their ids one per line."""
    posts = make_posts(n)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(posts))
    path.with_suffix(".ids").write_text("\n".join(p["id"] for p in posts) + "\n")
    return posts
