"""What the server needs beyond `Settings`: bind address, key, queue, limits, CORS and what `/v1/run` may reach.

Built once at the edge (the CLI, the Lambda container, a test) and handed to `create_app`. Fields missing
from the CLI fall back to `Settings` fields (`api_key`, `serve_*`, named like their variables), so a
deployment configured by environment or by nativa.toml works either way.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from nativa.config import Settings, load_settings
from nativa.errors import ConfigError

DEFAULT_MAX_BODY = 1_048_576


class ServeConfig(BaseModel):
    """Server options, from `nativa serve` flags and `NATIVA_*` variables (`ENV` names each variable; a flag
    wins over its variable)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    models: tuple[str, ...] = Field(default=(), description="Served model names; empty: the settings' model.")
    api_key: SecretStr | None = None
    api_key_name: str | None = Field(None, min_length=1, max_length=100, description=(
        "Who the key stands for in the review audit log (default: a digest of the key)."))
    max_queue: int = Field(16, ge=0, le=10_000, description="Requests that may wait for the model.")
    concurrency: int = Field(1, ge=1, le=256, description="Model jobs run at once (1 for the embedded model).")
    request_timeout_s: float = Field(300.0, gt=0, le=86_400)
    max_body_bytes: int = Field(DEFAULT_MAX_BODY, ge=1024, le=1 << 30)
    header_timeout_s: float = Field(10.0, gt=0, le=3600, description=(
        "Seconds a connection may take to send a request's headers, and may sit idle between requests."))
    body_timeout_s: float = Field(20.0, gt=0, le=3600, description="Seconds a client may take to send a body.")
    max_connections: int = Field(128, ge=1, le=100_000, description="Open connections at once; beyond: 503.")
    cors_origins: tuple[str, ...] = ()
    preload: bool = False
    graceful_timeout_s: float = Field(30.0, ge=0, le=3600)
    workers: int = Field(1, ge=1, le=64)
    run_db: str | None = Field(None, description="Database the /v1/run SQL tool reads (read-only).")
    run_allow_hosts: tuple[str, ...] = Field((), description="Hosts /v1/run's HTTP tool may reach, at most.")

    @property
    def key(self) -> str | None:
        """The API key in clear, or None when the server needs none; kept a SecretStr elsewhere so it never
        shows in a repr or a log."""
        return self.api_key.get_secret_value() if self.api_key else None

    def to_env_json(self) -> str:
        """The options as JSON for worker processes, the key included (it travels like NATIVA_API_KEY)."""
        return self.model_dump_json(exclude={"api_key"})[:-1] + f', "api_key": {json.dumps(self.key)}}}'

    @property
    def head_deadline_s(self) -> float:
        """Time to receive a request's headers: the header timeout, within the request timeout."""
        return min(self.header_timeout_s, self.request_timeout_s)

    @property
    def body_deadline_s(self) -> float:
        """Time to receive a request's body: the body timeout, within the request timeout."""
        return min(self.body_timeout_s, self.request_timeout_s)

    def served_models(self, settings: Settings) -> tuple[str, ...]:
        """The model names the server answers for: `--model` as given, else the settings' one model."""
        return self.models or (settings.model,)

    def check_binding(self) -> None:
        """Refuse to listen beyond this machine without a key: a model server is an open compute endpoint."""
        if not is_loopback(self.host) and not self.key:
            raise ConfigError(
                f"--host {self.host} is not a loopback address, so an API key is required: pass --api-key KEY "
                "or set NATIVA_API_KEY (or bind to 127.0.0.1)"
            )


# field -> environment variable read when the CLI did not set the field
ENV: dict[str, str] = {
    "api_key": "NATIVA_API_KEY",
    "api_key_name": "NATIVA_API_KEY_NAME",
    "max_queue": "NATIVA_SERVE_MAX_QUEUE",
    "concurrency": "NATIVA_SERVE_CONCURRENCY",
    "request_timeout_s": "NATIVA_SERVE_TIMEOUT_S",
    "max_body_bytes": "NATIVA_SERVE_MAX_BODY_BYTES",
    "header_timeout_s": "NATIVA_SERVE_HEADER_TIMEOUT_S",
    "body_timeout_s": "NATIVA_SERVE_BODY_TIMEOUT_S",
    "max_connections": "NATIVA_SERVE_MAX_CONNECTIONS",
    "cors_origins": "NATIVA_SERVE_CORS_ORIGINS",
    "preload": "NATIVA_SERVE_PRELOAD",
    "models": "NATIVA_SERVE_MODELS",
    "run_db": "NATIVA_SERVE_RUN_DB",
    "run_allow_hosts": "NATIVA_SERVE_RUN_ALLOW_HOSTS",
}
_LISTS = {"cors_origins", "models", "run_allow_hosts"}


def load_serve_config(settings: Settings | None = None, **overrides: Any) -> ServeConfig:
    """Overrides (CLI flags) first, then the `Settings` field named like the variable (`NATIVA_SERVE_MAX_QUEUE`
    -> `serve_max_queue`, `NATIVA_API_KEY` -> `api_key`; this process's settings when none are given)."""
    settings = settings if settings is not None else load_settings()
    values: dict[str, Any] = {}
    for field, var in ENV.items():
        value = None
        value = getattr(settings, var.removeprefix("NATIVA_").lower())  # NATIVA_SERVE_MAX_QUEUE -> serve_max_queue
        if value is not None and field in _LISTS:
            items = value.split(",") if isinstance(value, str) else value
            value = tuple(str(p).strip() for p in items if str(p).strip())
        if value is not None:
            values[field] = value
    values.update({k: (tuple(v) if k in _LISTS else v) for k, v in overrides.items() if v is not None})
    try:
        return ServeConfig(**values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            where = f"--{field.replace('_', '-')} / {ENV[field]}" if field in ENV else f"--{field.replace('_', '-')}"
            problems.append(f"{where}: {err['msg']}")
        raise ConfigError("invalid server option: " + "; ".join(problems)) from None


def is_loopback(host: str) -> bool:
    """True only when every address `host` names is loopback; `0.0.0.0` and `::` listen everywhere."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)
