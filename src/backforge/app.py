"""backforge as a library: `App.from_file("shop.yaml")` is an ASGI application."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from .auth.components import build_auth
from .auth.mail import Mailer
from .config import load_config
from .database import create_database_engine, database_url
from .http.app import build_app
from .http.callers import Callers
from .http.custom import check_endpoints
from .http.declared import check_declared
from .http.middleware import build_middleware
from .schema.tables import build_metadata
from .spec import DeclarationError, Problem, Spec, load_dict, load_file
from .spec.routes import split_route_key
from .store.access import check_rules
from .store.hooks import Hooks
from .store.records import RecordStore
from .user_code import load_hooks_module


class App:
    """A served declaration. Mount it in Starlette/FastAPI, run it with any ASGI server,
    or drive it with httpx in tests."""

    def __init__(
        self,
        spec: Spec,
        database: str | Engine | None = None,
        *,
        declaration_path: str | Path | None = None,
        auto_migrate: bool = False,
        admin_token: str | None = None,
        mailer: Mailer | None = None,
    ):
        problems = check_rules(spec, build_metadata(spec).tables)
        if problems:
            raise DeclarationError(str(declaration_path or "<declaration>"), problems)
        self.spec = spec
        self.declaration_path = declaration_path
        if isinstance(database, Engine):
            self.engine = database
        else:
            self.engine = create_database_engine(
                database or database_url(declaration_path, spec.name)
            )
        if auto_migrate:
            from .schema.migrations import auto_apply

            auto_apply(self.engine, spec)
        module = load_hooks_module(spec, declaration_path)
        hooks = getattr(module, "hooks", None) or Hooks()
        endpoints = getattr(module, "endpoints", None)
        unknown = sorted(hooks.collections() - set(spec.collections))
        if unknown:
            raise DeclarationError(
                str(declaration_path or "<declaration>"),
                [Problem(("hooks",), f"hooks name unknown collections: {', '.join(unknown)}")],
            )
        self.hooks_module = module
        self.store = RecordStore(spec, self.engine, hooks)
        problems = check_declared(self.store) + _route_clashes(spec, endpoints)
        if endpoints is not None:
            problems += [Problem(("hooks",), text) for text in check_endpoints(endpoints)]
        if problems:
            raise DeclarationError(str(declaration_path or "<declaration>"), problems)
        self.jobs = None
        if spec.jobs or spec.cron or spec.webhooks:
            from .jobs.system import JobSystem

            self.jobs = JobSystem(spec, self.store, declaration_path, module)
            self.jobs.attach()
        token = admin_token if admin_token is not None else os.environ.get("BACKFORGE_ADMIN_TOKEN")
        self.config = load_config(spec.server)
        self.auth = build_auth(self.store, mailer)
        callers = Callers(
            token,
            scheme=spec.settings.auth_scheme,
            issuer=self.auth.issuer if self.auth else None,
            api_keys=self.auth.api_keys if self.auth else None,
            sessions=self.auth.sessions if self.auth else None,
            token_header=spec.settings.token_header,
            token_cookie=spec.settings.token_cookie,
        )
        self.asgi = build_middleware(
            build_app(self.store, callers, self.auth, endpoints, _templates(declaration_path)),
            self.store,
            self.config,
        )

    @classmethod
    def from_file(
        cls, path: str | Path, database: str | Engine | None = None, **options: Any
    ) -> App:
        return cls(load_file(path), database, declaration_path=path, **options)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], database: str | Engine | None = None, **options: Any
    ) -> App:
        return cls(load_dict(data), database, **options)

    async def __call__(self, scope, receive, send) -> None:
        await self.asgi(scope, receive, send)


def _route_clashes(spec: Spec, endpoints: Any) -> list[Problem]:
    """A declared route and a custom endpoint may not take the same method and path."""
    if endpoints is None:
        return []
    taken = {(e.method, _template(e.path)) for e in endpoints.routes}
    clashes = []
    for key in spec.routes:
        parsed = split_route_key(key)
        if parsed is not None and (parsed[0], _template(parsed[1])) in taken:
            message = "a custom endpoint of the hooks module takes this route too"
            clashes.append(Problem(("routes", key), message))
    return clashes


def _template(path: str) -> str:
    """A path with its parameters unnamed: /x/{id} and /x/{pk:int} are one route."""
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")


def _templates(declaration_path: str | Path | None) -> Path | None:
    """`templates/` beside the declaration: where custom endpoints' HTML templates live."""
    return Path(declaration_path).resolve().parent / "templates" if declaration_path else None
