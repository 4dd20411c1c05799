"""Fetch the Swagger UI files the docs console ships (src/backforge/http/static/swagger/).

Run by a maintainer to move to another release; never at run time or install time. The
files are swagger-ui-dist's own, unmodified, checked against the npm registry's sha512.

    python scripts/vendor_swagger_ui.py [VERSION]
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "5.36.0"
FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE")
TARGET = Path(__file__).resolve().parents[1] / "src/backforge/http/static/swagger"
REGISTRY = "https://registry.npmjs.org/swagger-ui-dist"


def main(version: str) -> None:
    with urllib.request.urlopen(f"{REGISTRY}/{version}") as answer:  # noqa: S310 -- fixed https
        dist = json.load(answer)["dist"]
    with urllib.request.urlopen(dist["tarball"]) as answer:  # noqa: S310 -- from the registry
        tarball = answer.read()
    algorithm, _, expected = dist["integrity"].partition("-")
    assert algorithm == "sha512", dist["integrity"]
    actual = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if actual != expected:
        raise SystemExit(f"integrity mismatch for swagger-ui-dist {version}")
    TARGET.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
        for name in FILES:
            member = archive.extractfile(f"package/{name}")
            if member is None:
                raise SystemExit(f"{name} is not in swagger-ui-dist {version}")
            (TARGET / name).write_bytes(member.read())
    (TARGET / "VERSION").write_text(version + "\n")
    print(f"swagger-ui-dist {version} -> {TARGET}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else VERSION)
