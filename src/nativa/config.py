"""The one configuration object: `NATIVA_*` environment variables over an optional `nativa.toml`.

It is built once at the edge (CLI, server, Lambda handler) and passed down, so library code never reads the
environment behind the caller's back and tests can build a `Settings` by hand. This module is the one place
that reads `NATIVA_*` variables, and the standard ones nativa honours (`OTEL_*`, `AWS_*`, `XDG_RUNTIME_DIR`).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from nativa.errors import ConfigError


def toml_path() -> Path:
    """`NATIVA_CONFIG` names the file; otherwise `./nativa.toml` when present."""
    return Path(os.environ.get("NATIVA_CONFIG", "nativa.toml"))


class Settings(BaseSettings):
    """Everything configurable in nativa; each field maps to `NATIVA_<FIELD>` and a key in nativa.toml."""

    model_config = SettingsConfigDict(env_prefix="NATIVA_", extra="ignore", validate_default=True)

    home: Path = Field(
        default_factory=lambda: Path(platformdirs.user_cache_dir("nativa")),
        description="Where assembled weights, traces and other data live.",
    )
    model: str = Field("small", description="Default model: small | large | openai:<name> | cascade "
                       "(small, then large) | cascade:<stage>,<stage>,...")
    cascade_small_attempts: int = Field(1, ge=1, le=20, description="Attempts the first stage of a cascade "
                                        "makes before the code agent escalates to the next.")
    cascade_intent_threshold: float = Field(0.7, ge=0.0, le=1.0, description="A cascade's intent parser "
                                            "hands a request to the next stage when the stage's own token "
                                            "probability of its pick is under this (calibrated by nativa "
                                            "bench intent --calibrate).")
    cascade_sensitive: Literal["local", "redact"] = Field("local", description="What a cascade does with work "
                                                          "holding secrets or personal data: keep it on local "
                                                          "stages, or send it to remote ones redacted.")
    model_prices: dict[str, dict[str, float]] | None = Field(None, description="Price table of remote models "
                                                             "for the cost on results: {\"openai:<name>\": "
                                                             "{\"input\": per 1M tokens, \"output\": ...}}.")
    n_ctx: int = Field(4096, ge=256, le=131072, description="Context window for the local model.")
    n_threads: int | None = Field(None, ge=1, description="CPU threads for the local model (default: all cores).")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(512, ge=1, le=32768)
    seed: int = Field(0, description="Sampling seed, so runs are repeatable.")
    max_batch: int = Field(4, ge=1, le=64, description="Sequences the local model decodes per step (candidates, "
                           "concurrent requests); 1 turns batching off.")
    batch_n_ctx: int | None = Field(None, ge=256, le=1 << 20, description="KV cells of the batched context, "
                                    "split evenly over max_batch sequences (default: n_ctx, at most 4096, each).")

    openai_base_url: str | None = Field(None, description="Base URL of an OpenAI-compatible server.")
    openai_api_key: str | None = Field(None, description="API key for that server (never sent to the sandbox).")
    openai_timeout_s: float = Field(60.0, gt=0)
    openai_max_retries: int = Field(4, ge=0, le=20)

    sandbox_allow_weak: bool = Field(False, description="Run code even when no strong isolation tier exists.")
    trace_content: bool = Field(False, description="Record prompt and completion text in traces (privacy: off).")
    trace_content_max_chars: int = Field(4000, ge=0)
    trace_exporters: str | None = Field(None, description="Comma-separated: jsonl, console, otlp, none.")
    trace_max_bytes: int = Field(20_000_000, ge=10_000, description="Rotate the JSONL trace file at this size.")
    trace_keep_files: int = Field(5, ge=1, description="Rotated trace files kept.")

    review_policy: Path | None = Field(None, description="A team's review policy file (TOML or JSON) over the "
                                       "shipped default.")
    review_db: Path | None = Field(None, description="SQLite file of the review audit log and approvals "
                                   "(default: <home>/nativa.db, shared with the session store).")
    review_approval_ttl_s: float = Field(3600.0, gt=0, le=30 * 86400, description="How long a run paused for "
                                         "approval (HTTP) waits for a person before it expires.")
    memory_url: str | None = Field(None, description="Where sessions and memories live: a SQLite file path "
                                   "(default: $NATIVA_HOME/nativa.db) or a postgresql:// URL (with pgvector).")
    embedder: str = Field("minilm", description="minilm (local all-MiniLM-L6-v2), openai:<model> "
                          "(an OpenAI-compatible /v1/embeddings), or none (no long-term recall).")
    embed_base_url: str | None = Field(None, description="Server for openai:<model> embeddings "
                                       "(default: NATIVA_OPENAI_BASE_URL).")
    embed_api_key: str | None = Field(None, description="Key for that server (default: NATIVA_OPENAI_API_KEY).")
    memory_max_items: int = Field(100_000, ge=1, description="Memories kept per namespace; the oldest go first.")
    memory_ttl_s: float | None = Field(None, gt=0, description="Default lifetime of a memory (none: forever).")
    memory_recall_k: int = Field(5, ge=0, le=100, description="Memories recalled into a chat's context.")
    memory_min_score: float = Field(0.25, ge=-1.0, le=1.0, description="Cosine score below which a memory "
                                    "is not recalled into a context.")
    memory_busy_timeout_s: float = Field(30.0, gt=0, description="How long a SQLite writer waits for another.")

    # `nativa serve` and the app factory; unset means the server's own default (each is also a flag).
    api_key: SecretStr | None = Field(None, description="Bearer key clients of `nativa serve` must send.")
    api_key_name: str | None = Field(None, description="Who the API key's holder is, for review and ownership.")
    serve_models: str | None = Field(None, description="Served model names, comma-separated.")
    serve_max_queue: int | None = Field(None, ge=0, description="Requests that may wait for the model (16).")
    serve_concurrency: int | None = Field(None, ge=1, description="Model jobs run at once per model (1).")
    serve_timeout_s: float | None = Field(None, gt=0, description="Seconds per request (300).")
    serve_max_body_bytes: int | None = Field(None, ge=1024, description="Largest request body (1 MiB).")
    serve_header_timeout_s: float | None = Field(None, gt=0, description="Seconds to send headers (10).")
    serve_body_timeout_s: float | None = Field(None, gt=0, description="Seconds to send a body (20).")
    serve_max_connections: int | None = Field(None, ge=1, description="Open connections at once (128).")
    serve_cors_origins: str | None = Field(None, description="Origins allowed to call from a browser, "
                                           "comma-separated (CORS is off by default).")
    serve_preload: bool | None = Field(None, description="Load the model before accepting requests.")
    serve_run_db: str | None = Field(None, description="Database the /v1/run SQL tool reads (read-only).")
    serve_run_allow_hosts: str | None = Field(None, description="Hosts /v1/run's HTTP tool may reach, "
                                              "comma-separated.")
    serve_config_json: SecretStr | None = Field(None, description="Set by `nativa serve --workers N` for its "
                                                "worker processes: the server options as JSON (not for users).")

    # Serverless events (the Lambda handler).
    event_task: Literal["chat", "code"] | None = Field(None, description="What an event runs (chat).")
    event_instruction: str | None = Field(None, description="The instruction put before an event's text.")
    event_max_bytes: int | None = Field(None, ge=1, description="Largest object an event may name (1 MiB).")
    event_store: str | None = Field(None, description="Where S3 events' objects are read: local:/path, s3 or "
                                    "s3:https://endpoint.")
    s3_endpoint_url: str | None = Field(None, description="S3 endpoint (default: AWS's for the region).")

    # Standard variables nativa honours under their own names (see STANDARD_ENV), never the NATIVA_ prefix.
    aws_region: str | None = Field(None, description="AWS_REGION, else AWS_DEFAULT_REGION (us-east-1).")
    aws_access_key_id: str | None = Field(None, description="AWS_ACCESS_KEY_ID, for the S3 event reader.")
    aws_secret_access_key: SecretStr | None = Field(None, description="AWS_SECRET_ACCESS_KEY.")
    aws_session_token: SecretStr | None = Field(None, description="AWS_SESSION_TOKEN (a role's credentials).")
    otel_service_name: str | None = Field(None, description="OTEL_SERVICE_NAME: the traces' service name.")
    otel_exporter_otlp_endpoint: str | None = Field(None, description="OTEL_EXPORTER_OTLP_ENDPOINT.")
    otel_exporter_otlp_traces_endpoint: str | None = Field(None, description="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.")
    otel_exporter_otlp_metrics_endpoint: str | None = Field(None, description="OTEL_EXPORTER_OTLP_METRICS_ENDPOINT.")
    otel_exporter_otlp_protocol: str | None = Field(None, description="OTEL_EXPORTER_OTLP_PROTOCOL.")
    otel_exporter_otlp_traces_protocol: str | None = Field(None, description="OTEL_EXPORTER_OTLP_TRACES_PROTOCOL.")
    otel_exporter_otlp_metrics_protocol: str | None = Field(None, description="OTEL_EXPORTER_OTLP_METRICS_PROTOCOL.")
    otel_metrics_exporter: str | None = Field(None, description="OTEL_METRICS_EXPORTER (otlp).")
    xdg_runtime_dir: Path | None = Field(None, description="XDG_RUNTIME_DIR: where a non-root sandbox keeps its "
                                         "runtime files.")

    @field_validator("serve_models", "serve_cors_origins", "serve_run_allow_hosts", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        """nativa.toml may write a list; the variable is comma-separated: both become one string."""
        return ",".join(str(v) for v in value) if isinstance(value, list | tuple) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Where settings come from, first wins: arguments, the standard variables (AWS_REGION, ...),
        `NATIVA_*` variables, then nativa.toml, where an unknown key is an error rather than ignored."""
        return (init_settings, _StandardEnv(settings_cls), env_settings, _CheckedToml(settings_cls))

    @property
    def models_dir(self) -> Path:
        """Where model weights assembled from their packages are cached: `models` under the home folder."""
        return self.home / "models"

    @property
    def data_dir(self) -> Path:
        """Where nativa keeps what it writes (the JSONL traces among it): `data` under the home folder."""
        return self.home / "data"

    @property
    def review_db_path(self) -> Path:
        """The review audit log's SQLite file: `review_db`, else `nativa.db` under the home folder (the
        memory's default file: one file holds both)."""
        return self.review_db or self.home / "nativa.db"

    @property
    def memory_location(self) -> str:
        """The memory store's URL or SQLite path: `memory_url`, else `nativa.db` under the home folder."""
        return self.memory_url or str(self.home / "nativa.db")


# field -> the standard variables it is read from, first set wins (no NATIVA_ prefix: these are other tools' names)
STANDARD_ENV: dict[str, tuple[str, ...]] = {
    "aws_region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "aws_access_key_id": ("AWS_ACCESS_KEY_ID",),
    "aws_secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
    "aws_session_token": ("AWS_SESSION_TOKEN",),
    "otel_service_name": ("OTEL_SERVICE_NAME",),
    "otel_exporter_otlp_endpoint": ("OTEL_EXPORTER_OTLP_ENDPOINT",),
    "otel_exporter_otlp_traces_endpoint": ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",),
    "otel_exporter_otlp_metrics_endpoint": ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",),
    "otel_exporter_otlp_protocol": ("OTEL_EXPORTER_OTLP_PROTOCOL",),
    "otel_exporter_otlp_traces_protocol": ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",),
    "otel_exporter_otlp_metrics_protocol": ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",),
    "otel_metrics_exporter": ("OTEL_METRICS_EXPORTER",),
    "xdg_runtime_dir": ("XDG_RUNTIME_DIR",),
}


def env_names(field: str) -> tuple[str, ...]:
    """The variables a field is read from: its standard names, or `NATIVA_<FIELD>`."""
    return STANDARD_ENV.get(field, (f"NATIVA_{field.upper()}",))


class _StandardEnv(PydanticBaseSettingsSource):
    """The standard variables of STANDARD_ENV, under their own names; an empty one counts as unset."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        for name in STANDARD_ENV.get(field_name, ()):
            if os.environ.get(name):
                return os.environ[name], field_name, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, field_name)
            if value is not None:
                found[key] = value
        return found


class _CheckedToml(TomlConfigSettingsSource):
    """nativa.toml, where a key that is no setting is an error naming the nearest one (a typo there would
    otherwise be dropped without a word and the default used)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        self.path = toml_path()
        super().__init__(settings_cls, toml_file=self.path)

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        unknown = sorted(set(data) - set(self.settings_cls.model_fields))
        if unknown:
            known = list(self.settings_cls.model_fields)
            parts = []
            for key in unknown:
                near = difflib.get_close_matches(key, known, n=1)
                parts.append(f"{key!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
            raise ConfigError(f"{self.path}: unknown key {', '.join(parts)}; see `nativa config` for the valid keys")
        return data


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning pydantic's validation error into one line that names the bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "?"
            problems.append(f"{' / '.join(env_names(field))} (or '{field}' in nativa.toml): {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{toml_path()} is not valid TOML: {exc}") from None


Source = Literal["default", "file", "environment", "argument"]


@dataclass(frozen=True, slots=True)
class SettingValue:
    """One row of `nativa config`: a setting, its effective value (secrets masked), and where it came from."""

    name: str
    value: Any
    source: Source
    env: str
    description: str | None

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON (`nativa config --json`), the value already masked if it is a secret."""
        return {"name": self.name, "value": self.value, "source": self.source, "env": self.env,
                "description": self.description}


def _is_secret(name: str, value: Any) -> bool:
    return isinstance(value, SecretStr) or name.endswith(("_key", "_secret", "_token", "password"))


def _shown(name: str, value: Any) -> Any:
    if value is None:
        return None
    if _is_secret(name, value):
        return "********"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str) and "://" in value:  # a URL's password (postgresql://user:pw@host/db)
        parts = urlsplit(value)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":********@", 1)
            return urlunsplit(parts._replace(netloc=netloc))
    return value


def explain_settings(**overrides: Any) -> list[SettingValue]:
    """Every setting's effective value and its source (argument > environment > file > default), the way
    `load_settings` resolves them; secrets are masked."""
    settings = load_settings(**overrides)
    from_env = {**EnvSettingsSource(Settings)(), **_StandardEnv(Settings)()}
    from_file = _CheckedToml(Settings)()
    rows = []
    for name, field in Settings.model_fields.items():
        source: Source = ("argument" if name in overrides else "environment" if name in from_env
                          else "file" if name in from_file else "default")
        rows.append(SettingValue(name, _shown(name, getattr(settings, name)), source, " / ".join(env_names(name)),
                                 field.description))
    return rows
