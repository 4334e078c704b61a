"""Settings, each declared once with its default, environment variable and help."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from dataclasses import field as dc_field

from .errors import SearchServiceError


def _setting(default: object, env: str, help: str) -> object:
    return dc_field(default=default, metadata={"env": env, "help": help})


@dataclass(frozen=True)
class Settings:
    """Configuration shared by the CLI and the web app."""

    index_dir: str = _setting("index", "SEARCH_INDEX_DIR", "index directory")  # type: ignore[assignment]
    host: str = _setting("127.0.0.1", "SEARCH_HOST", "address to serve on")  # type: ignore[assignment]
    port: int = _setting(8000, "SEARCH_PORT", "port to serve on")  # type: ignore[assignment]
    workers: int = _setting(2, "SEARCH_WORKERS", "gunicorn worker processes")  # type: ignore[assignment]
    timeout: int = _setting(30, "SEARCH_TIMEOUT", "seconds before a stuck worker is restarted")  # type: ignore[assignment]
    cache_size: int = _setting(512, "SEARCH_CACHE_SIZE", "search results kept per worker")  # type: ignore[assignment]
    time_budget_ms: int = _setting(  # type: ignore[assignment]
        2000, "SEARCH_TIME_BUDGET_MS", "milliseconds a search may spend before answering with what it found"
    )
    freshness_days: int = _setting(  # type: ignore[assignment]
        0, "SEARCH_FRESHNESS_DAYS", "half-life in days of a lift for recent articles in relevance order (0: off)"
    )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults, then environment variables, then explicit overrides (None = not given)."""
        environ = dict(os.environ) if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, f.metadata["env"], raw, type(f.default))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @classmethod
    def describe(cls) -> list[tuple[str, str, object, str]]:
        """(name, environment variable, default, help) of every setting."""
        return [(f.name, f.metadata["env"], f.default, f.metadata["help"]) for f in fields(cls)]


class ConfigError(SearchServiceError):
    """A setting has a value that cannot be used."""


def _convert(name: str, env: str, raw: str, kind: type) -> object:
    if kind is int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{env} must be a whole number, got {raw!r}") from None
        if value < 0:
            raise ConfigError(f"{env} must not be negative, got {value}")
        return value
    return raw
