"""What `backforge design` shows before it writes: the collections and their rules, the
migration a new database would get, and an audit of the declaration served in a scratch
directory (with the `[audit]` extra)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..blueprints import DECLARATION


def preview_lines(text: str, audit: bool) -> list[str]:
    from ..database import create_database_engine
    from ..schema.migrations import pending_changes, summarize
    from ..spec.loader import load_file

    lines = []
    with tempfile.TemporaryDirectory(prefix="backforge-design-") as folder:
        path = Path(folder) / DECLARATION
        path.write_text(text, encoding="utf-8")
        spec = load_file(path)
        for name, collection in spec.collections.items():
            if collection.link_of is None:
                declared = [f"{op}: {rule}" for op, rule in collection.rules.declared().items()]
                lines.append(f"{name}: {'; '.join(declared) or 'admins only'}")
        engine = create_database_engine(f"sqlite:///{Path(folder) / 'plan.db'}")
        try:
            lines.append(f"a new database gets: {summarize(pending_changes(engine, spec))}")
        finally:
            engine.dispose()
        if audit:
            lines += _audit_lines(path)
    return lines


def _audit_lines(path: Path) -> list[str]:
    from ..extras import missing

    if missing("audit"):
        return ["audit: skipped (pip install 'backforge[audit]' to audit the draft)"]
    from ..audit.auth import parse_user
    from ..audit.context import AuditOptions
    from ..audit.runner import run_audit
    from ..dev_server import DevServer, DevServerError

    try:
        server = DevServer.start(path, scratch=True)
    except DevServerError as exc:
        return [f"audit: the draft could not be served: {exc}"]
    try:
        report = run_audit(
            server.base_url,
            users=[parse_user(f"admin=bearer:{server.admin_token}")],
            declaration=str(path),
            max_time=120,
            options=AuditOptions(fuzz_examples=0),
        )
    finally:
        server.stop()
    lines = [f"audit: {len(report.findings)} finding(s) in {report.requests} requests"]
    lines += [f"  {f.severity.label}: {f.title} ({f.operation})" for f in report.findings]
    return lines
