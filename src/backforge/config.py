"""Run-time configuration: the declaration's `server:` section, overridden by the environment.

Every setting `server.<section>.<name>` can be overridden with `BACKFORGE_<SECTION>__<NAME>`
(e.g. `BACKFORGE_RATE_LIMITS__DEFAULT=100/minute`, `BACKFORGE_CORS__ORIGINS='["https://a.example"]'`).
Secrets never come from the declaration: `REDIS_URL` and `BACKFORGE_METRICS_TOKEN` (or a file named
by `BACKFORGE_METRICS_TOKEN_FILE` / `REDIS_URL_FILE`) are read from the environment only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, SecretStr, model_validator
from pydantic import Field as PydanticField
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .extras import missing
from .spec.server import ServerSettings

ENV_PREFIX = "BACKFORGE_"


class ServerConfig(BaseSettings, ServerSettings):
    """The settings in force: environment first, then the declaration, then the defaults."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
        case_sensitive=False,
    )

    # The declared settings are inherited from ServerSettings; only secrets are added here.

    # Secrets: environment (or a file it names) only.
    redis_url: SecretStr | None = PydanticField(
        default=None, validation_alias=AliasChoices("REDIS_URL", "BACKFORGE_REDIS_URL")
    )
    metrics_token: SecretStr | None = PydanticField(
        default=None, validation_alias=AliasChoices("BACKFORGE_METRICS_TOKEN")
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the declaration (passed as init arguments).
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _empty_secrets_are_unset(self) -> ServerConfig:
        for name in ("redis_url", "metrics_token"):
            value = getattr(self, name)
            if value is not None and not value.get_secret_value().strip():
                object.__setattr__(self, name, None)
        if self.redis_url is not None and missing("redis"):
            raise ValueError("REDIS_URL is set: install the 'redis' extra (backforge[redis])")
        return self

    @property
    def redis(self) -> str | None:
        return self.redis_url.get_secret_value() if self.redis_url else None


def load_config(declared: ServerSettings | None = None) -> ServerConfig:
    """The configuration for one app: `declared` (the spec's `server:`) under the environment."""
    values: dict[str, Any] = declared.model_dump(exclude_unset=True) if declared else {}
    return ServerConfig(**values, **_secrets_from_files(os.environ))


def _secrets_from_files(environ: Mapping[str, str]) -> dict[str, str]:
    """`<NAME>_FILE` names a file holding the secret (Docker/Kubernetes secrets)."""
    found = {}
    for variable, field in (
        ("REDIS_URL_FILE", "REDIS_URL"),
        ("BACKFORGE_METRICS_TOKEN_FILE", "BACKFORGE_METRICS_TOKEN"),
    ):
        path = environ.get(variable)
        if path and not environ.get(field):
            found[field] = Path(path).read_text(encoding="utf-8").strip()
    return found
