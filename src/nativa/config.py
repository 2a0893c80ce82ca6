"""The one configuration object: `NATIVA_*` environment variables over an optional `nativa.toml`.

It is built once at the edge (CLI, server) and passed down, so library code never reads the environment
behind the caller's back and tests can build a `Settings` by hand.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from nativa.errors import ConfigError


def _toml_path() -> Path:
    """`NATIVA_CONFIG` names the file; otherwise `./nativa.toml` when present."""
    return Path(os.environ.get("NATIVA_CONFIG", "nativa.toml"))


class Settings(BaseSettings):
    """Everything configurable in nativa; each field maps to `NATIVA_<FIELD>` and a key in nativa.toml."""

    model_config = SettingsConfigDict(env_prefix="NATIVA_", extra="ignore", validate_default=True)

    home: Path = Field(
        default_factory=lambda: Path(platformdirs.user_cache_dir("nativa")),
        description="Where assembled weights, traces and other data live.",
    )
    model: str = Field("small", description="Default model: small | large | openai:<name>.")
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=_toml_path()))

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def review_db_path(self) -> Path:
        return self.review_db or self.home / "nativa.db"

    @property
    def memory_location(self) -> str:
        """The memory store's URL or SQLite path: `memory_url`, else `nativa.db` under the home folder."""
        return self.memory_url or str(self.home / "nativa.db")


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning pydantic's validation error into one line that names the bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "?"
            problems.append(f"NATIVA_{field.upper()} (or '{field}' in nativa.toml): {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
