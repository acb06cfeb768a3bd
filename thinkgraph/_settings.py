"""Settings from ``THINKGRAPH_*`` environment variables and an optional ``thinkgraph.toml``.

Precedence, highest first: keyword arguments to :func:`load_settings`, environment variables,
the TOML file (``THINKGRAPH_CONFIG`` or ``./thinkgraph.toml``), then defaults. Nothing is read at
import time and nothing is cached: each call builds a fresh :class:`Settings`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from thinkgraph.exceptions import ConfigError

__all__ = ["Settings", "default_database_url", "load_settings"]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def _data_dir() -> Path:
    home = os.environ.get("THINKGRAPH_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "thinkgraph"


def default_database_url() -> str:
    """The embedded SQLite database used when no URL is configured."""
    return f"sqlite:///{_data_dir() / 'thinkgraph.db'}"


class Settings(BaseSettings):
    """Process-wide configuration, validated.

    Attributes:
        database_url: SQLAlchemy URL of the database for checkpoints, store and ledger.
        default_model: model for nodes that name none (a litellm ``provider/name`` string).
        models: per-node overrides, by node name: a model string or a ``ModelSpec`` mapping.
        log_level: level of the ``thinkgraph`` logger.
    """

    model_config = SettingsConfigDict(
        env_prefix="THINKGRAPH_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    database_url: str = Field(default_factory=default_database_url)
    default_model: str | None = None
    models: dict[str, str | dict[str, Any]] = Field(default_factory=dict)
    log_level: LogLevel = "WARNING"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _config_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def _config_file() -> Path | None:
    explicit = os.environ.get("THINKGRAPH_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"THINKGRAPH_CONFIG points to {str(path)!r}, which is not a file")
        return path
    local = Path("thinkgraph.toml")
    return local if local.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Read the settings now; keyword arguments override every other source.

    Raises:
        ConfigError: a value is invalid; the message names the field and the source.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(
            f"invalid thinkgraph settings ({problems}); check THINKGRAPH_* variables and thinkgraph.toml"
        ) from None
    except Exception as exc:  # a TOML syntax error surfaces here
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"cannot read thinkgraph settings: {exc}") from None
