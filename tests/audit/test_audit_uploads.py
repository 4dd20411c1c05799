"""The audit's upload check against an avatar service with the usual upload flaws and its
secure twin, and against backforge's own file fields (typed and untyped)."""

from __future__ import annotations

from backforge import App
from backforge.audit.checks import uploads
from backforge.audit.findings import Severity
from backforge.audit.runner import run_audit
from backforge.database import create_database_engine
from backforge.store.caller import ADMIN
from backforge.store.listing import ListRequest

from .corpus.avatars_starlette import FLAWS, make_app
from .corpus.common import serve_asgi


def _found(url: str) -> dict[str, Severity]:
    report = run_audit(url, checks=[uploads], max_time=60)
    return {f.id: f.severity for f in report.findings if f.check == "uploads"}


def test_both_upload_flaws_of_the_avatar_service_are_found():
    with serve_asgi(make_app(secure=False)) as url:
        found = _found(url)
    assert set(found) == FLAWS
    assert found["upload-served-as-html"] == Severity.HIGH


def test_the_secure_avatar_service_has_no_upload_finding():
    with serve_asgi(make_app(secure=True)) as url:
        assert _found(url) == {}


def test_backforge_file_fields_have_no_upload_finding(tmp_path):
    declaration = {
        "name": "album",
        "server": {"files": {"path": str(tmp_path / "files")}, "rate_limits": {"enabled": False}},
        "collections": {
            "pictures": {
                "fields": {
                    "title": {"type": "text", "required": True},
                    "image": {"type": "file", "required": True, "accept": ["image/*"]},
                },
                "rules": {"list": "true", "view": "true", "create": "true"},
            },
            "documents": {  # any type: HTML is taken, and served only as a sandboxed download
                "fields": {"file": {"type": "file", "required": True}},
                "rules": {"list": "true", "view": "true", "create": "true"},
            },
        },
    }
    engine = create_database_engine(f"sqlite:///{tmp_path / 'album.db'}")
    app = App.from_dict(declaration, engine, admin_token="a" * 32)
    app.store.metadata.create_all(engine)
    with serve_asgi(app) as url:
        report = run_audit(url, checks=[uploads], max_time=60)
    assert [f.id for f in report.findings if f.check == "uploads"] == []
    # The probes arrived: the untyped field took the HTML page (and only that), the typed none.
    documents = app.store.list("documents", ADMIN, ListRequest()).items
    assert [d["file"].rsplit(".", 1)[1] for d in documents] == ["html"]
    assert app.store.list("pictures", ADMIN, ListRequest()).items == []
