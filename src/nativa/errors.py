"""One exception hierarchy, so every boundary (CLI, HTTP, tools) can turn a failure into one clear line.

`BadInputError` and its children mean the caller asked for something invalid (CLI exit code 2, HTTP 4xx);
everything else under `NativaError` is a failure of something nativa depends on (exit code 1, HTTP 5xx).
"""

from __future__ import annotations


class NativaError(Exception):
    """Root of all nativa errors; the message always names the bad input and what would be valid."""

    exit_code: int = 1


class BadInputError(NativaError):
    """The caller's input is invalid: a bad flag, an unknown model name, a malformed schema file."""

    exit_code = 2


class ConfigError(BadInputError):
    """A configuration value (environment variable or nativa.toml) is invalid."""


class ModelNotFoundError(BadInputError):
    """A model name that nativa does not know, or whose weights are not installed."""


class SchemaError(BadInputError):
    """A JSON schema that cannot constrain output (unreadable, not JSON, not an object schema)."""


class WeightsError(NativaError):
    """Embedded weights are missing, truncated or corrupt; the message names the package to reinstall."""


class ModelError(NativaError):
    """A model failed to load or to answer."""


class BatchCapacityError(ModelError):
    """The batched decoder has no room for more work right now (its KV cache is full): retry shortly."""

    retry_after_s: int = 1


class ServerUnreachableError(ModelError):
    """A remote OpenAI-compatible server could not be reached or kept failing after retries."""


class SandboxError(NativaError):
    """The sandbox could not run code (not the code failing: that is a RunResult with ok=False)."""


class SandboxUnavailableError(SandboxError):
    """No isolation tier strong enough is available on this host and weak sandboxes were not allowed."""


class RayMissingError(BadInputError):
    """`--ray` was asked for but Ray is not installed (it is the optional extra `nativa[ray]`)."""


class WorkerStartError(NativaError):
    """A batch or bench worker could not start (its model or sandbox failed to load), so no task can run."""


class PolicyError(BadInputError):
    """A review policy file that cannot be used: unreadable, not TOML/JSON, or a key or value it does not know."""


class ReviewError(NativaError):
    """The review of model-written code or a tool call could not be carried out."""


class ReviewUnavailableError(ReviewError):
    """A review needs a person but there is no one to ask (no terminal): the action is refused, never run."""


class PendingRunNotFoundError(BadInputError):
    """No run paused for approval with that id (for this API key)."""


class PendingRunConflictError(BadInputError):
    """The paused run is not awaiting an answer any more (approved, rejected, running or done): nothing reruns."""


class PendingRunExpiredError(PendingRunConflictError):
    """The paused run waited past its expiry (`NATIVA_REVIEW_APPROVAL_TTL_S`) without an answer; nothing ran."""


class AuditError(NativaError):
    """The review audit log could not be read or written (its database is unreadable or of a newer schema)."""


class MemoryStoreError(NativaError):
    """The memory store (SQLite file or PostgreSQL server) could not be opened, read or written."""


class MemoryFileError(MemoryStoreError):
    """The memory database file is corrupt, belongs to another program, or was written by a newer nativa.

    Never answered by resetting the file: it may hold the only copy of a user's sessions."""


class SessionNotFoundError(BadInputError):
    """No session of that name (for this owner); the message says how to list or create sessions."""


class MemoryNotFoundError(BadInputError):
    """No memory with that id (for this owner)."""


class DimensionMismatchError(BadInputError):
    """Vectors of another embedder (dimension or model) than the one a namespace was written with."""


class EmbedderError(NativaError):
    """The embedder is not installed, failed to load, or its server failed."""


class EmbedderMissingError(EmbedderError):
    """No embedder here: none is configured, or the `memory` extra that the local one needs is not installed."""


class RunNotPendingError(BadInputError):
    """An approve or reject of a run that is not waiting for review (unknown, already decided, or expired)."""


class RunNotFoundError(BadInputError):
    """No run with that id among the ones this server executed, the session store's, or the pending ones."""
