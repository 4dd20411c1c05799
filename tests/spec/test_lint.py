"""`backforge check` flags risky declarations: each warning below is produced, and a careful
declaration produces none."""

from __future__ import annotations

from backforge.spec import load_dict
from backforge.spec.lint import lint


def _messages(declaration: dict) -> list[str]:
    return [p.message for p in lint(load_dict(declaration))]


def test_risky_declaration_warnings():
    messages = _messages(
        {
            "name": "risky",
            "server": {"rate_limits": {"enabled": False}},
            "collections": {
                "secrets": {"fields": {"value": {"type": "text"}}},
                "users": {
                    "auth": True,
                    "fields": {"name": {"type": "text"}},
                    "rules": {"view": "id = auth.id"},
                },
                "posts": {
                    "fields": {
                        "status": {"type": "text"},
                        "secret": {"type": "relation", "to": "secrets"},
                    },
                    "rules": {
                        "list": 'status = "published"',
                        "update": "public",
                        "delete": "public",
                    },
                },
            },
        }
    )
    assert "anyone, even anonymous, may update posts" in messages
    assert "anyone, even anonymous, may delete posts" in messages
    assert any("filters on 'status', which has no index" in m for m in messages)
    assert any("expanding 'secret' shows non-admins nothing" in m for m in messages)
    assert "no rules: only admins can reach secrets" in messages
    assert any("accepts logins but rate limits are off" in m for m in messages)


def test_careful_declaration_has_no_warnings():
    assert (
        _messages(
            {
                "name": "careful",
                "collections": {
                    "users": {"auth": True, "rules": {"view": "id = auth.id"}},
                    "posts": {
                        "fields": {
                            "status": {"type": "text", "index": True},
                            "author": {"type": "relation", "to": "users"},
                        },
                        "rules": {
                            "list": 'status = "published" || author = auth.id',
                            "view": "public",
                        },
                    },
                },
            }
        )
        == []
    )


def test_a_password_floor_below_8_is_allowed_with_a_warning():
    from backforge.spec import load_dict
    from backforge.spec.lint import lint

    spec = load_dict(
        {
            "name": "x",
            "collections": {"users": {"auth": {"min_password_length": 4}, "fields": {}}},
        }
    )
    warnings = [p for p in lint(spec) if "min_password_length" in p.path]
    assert len(warnings) == 1 and "easy to guess" in warnings[0].message
    assert warnings[0].severity == "warning"
