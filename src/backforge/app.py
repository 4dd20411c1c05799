"""backforge as a library: `App.from_file("shop.yaml")` is an ASGI application."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from .auth.components import build_auth
from .auth.mail import Mailer
from .config import load_config
from .database import create_database_engine, database_url
from .extras import declaration_problems
from .http.app import build_app
from .http.callers import Callers
from .http.declared import check_declared
from .http.middleware import build_middleware
from .realtime.service import Realtime
from .schema.tables import build_metadata
from .spec import DeclarationError, Spec, load_dict, load_file
from .store.access import check_rules
from .store.hooks import Hooks
from .store.records import RecordStore
from .user_code import load_hooks_module, user_code_problems

if TYPE_CHECKING:
    from .files.service import FileService
    from .spec.server import Files as FilesSettings


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
        problems = declaration_problems(spec) or check_rules(spec, build_metadata(spec).tables)
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
        problems = user_code_problems(spec, module)
        if problems:
            raise DeclarationError(str(declaration_path or "<declaration>"), problems)
        endpoints = getattr(module, "endpoints", None)
        self.hooks_module = module
        self.config = load_config(spec.server)
        hooks = getattr(module, "hooks", None) or Hooks()
        self.store = RecordStore(spec, self.engine, hooks, self.config.database)
        problems = check_declared(self.store)
        if problems:
            raise DeclarationError(str(declaration_path or "<declaration>"), problems)
        self.jobs = None
        if spec.jobs or spec.cron or spec.webhooks:
            from .jobs.system import JobSystem

            self.jobs = JobSystem(spec, self.store, declaration_path, module)
            self.jobs.attach()
        token = admin_token if admin_token is not None else os.environ.get("BACKFORGE_ADMIN_TOKEN")
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
        if any(self.store.file_fields.values()):
            self.store.files = _file_service(self.store, self.config.files, declaration_path)
        self.realtime = Realtime(self.store, self.config.redis, self.config.redis_key_prefix)
        self.asgi = build_middleware(
            build_app(
                self.store,
                callers,
                self.auth,
                endpoints,
                _templates(declaration_path),
                self.realtime,
                self.config.graphql,
                self.config.files,
                self.config.dashboard,
                _migrations(declaration_path),
            ),
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


def _migrations(declaration_path: str | Path | None) -> Path | None:
    """`migrations/` beside the declaration: the reviewed plans `backforge migrate` writes."""
    return Path(declaration_path).resolve().parent / "migrations" if declaration_path else None


def _templates(declaration_path: str | Path | None) -> Path | None:
    """`templates/` beside the declaration: where custom endpoints' HTML templates live."""
    return Path(declaration_path).resolve().parent / "templates" if declaration_path else None


def _file_service(
    store: RecordStore, settings: FilesSettings, declaration_path: str | Path | None
) -> FileService:
    """The storage of file fields' files: `<name>-files` beside the declaration by default;
    links signed with the token key (made for this process when none is configured)."""
    from .auth.tokens import KeyRing
    from .files.links import FileLinks
    from .files.service import FileService
    from .files.storage import open_storage

    folder = Path(declaration_path).resolve().parent if declaration_path else Path.cwd()
    storage = open_storage(settings, folder / f"{store.spec.name}-files")
    keys = KeyRing.configured_or_ephemeral("signed file links")
    return FileService(store.file_fields, storage, FileLinks(keys))
