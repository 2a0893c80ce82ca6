"""One exception hierarchy, so every boundary (CLI, HTTP, tools) can turn a failure into one clear line.

`BadInputError` and its children mean the caller asked for something invalid (CLI exit code 2, HTTP 4xx);
everything else under `NativaError` is a failure of something nativa depends on (exit code 1, HTTP 5xx).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any


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


class SensitiveDataError(ModelError):
    """A remote model stage was about to receive what must stay on this machine (work marked local_only, or
    a secret or personal data the detector found): nothing was sent; the cascade keeps such work local."""


class ScriptExhaustedError(ModelError, AssertionError):
    """The code under test asked the scripted model more often than the test scripted (an AssertionError too,
    so a test that over-asks fails as an assertion)."""


class SandboxError(NativaError):
    """The sandbox could not run code (not the code failing: that is a RunResult with ok=False)."""


class SandboxUnavailableError(SandboxError):
    """No isolation tier strong enough is available on this host and weak sandboxes were not allowed."""


class ToolError(NativaError):
    """Raised inside a tool for an expected failure; its message is what the model reads, so make it helpful."""


class ToolArgumentError(BadInputError):
    """The arguments given to a tool do not match its schema."""


class HTTPFetchError(ToolError):
    """The request was allowed but failed: timeout, connection refused, too many redirects."""


class RequestRefusedError(ToolError):
    """An HTTP request the guard will not send; the message names the URL, the reason and what is allowed."""


class SQLExecutionError(ToolError):
    """The database rejected or failed the statement (syntax, unknown column, timeout)."""


class SQLRefusedError(ToolError):
    """A statement the parser will not send to the database; the message says why and what is allowed."""


class PythonRunError(ToolError):
    """The code raised, or the sandbox ended it (timeout, memory, output cap)."""


class MCPError(NativaError):
    """The MCP server could not be started, reached, or listed."""


class RayMissingError(BadInputError):
    """`--ray` was asked for but Ray is not installed (it is the optional extra `nativa[ray]`)."""


class WorkerStartError(NativaError):
    """A batch or bench worker could not start (its model or sandbox failed to load), so no task can run."""


class ServeError(NativaError):
    """A failure inside the HTTP server; each subclass maps to one HTTP status in `nativa.serve.errors`."""


class ApiError(ServeError):
    """An HTTP answer other than success, raised anywhere in a handler: the status and the OpenAI-shaped body."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}
        self.extra = extra or {}


class CancelledError(ServeError):
    """The job was stopped from outside: `reason` is 'timeout', 'disconnect' or 'shutdown'."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"stopped: {reason}")
        self.reason = reason


class RequestTimeoutError(ServeError):
    """The request's deadline passed (HTTP 504)."""


class ClientGoneError(ServeError):
    """The client disconnected before the answer was ready."""


class QueueFullError(ServeError):
    """Every run slot and queue place is taken; `retry_after_s` estimates when one frees up."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ShuttingDownError(ServeError):
    """The server is stopping and takes no new work."""


class ModelUnavailableError(ServeError):
    """A model this server is configured to serve cannot be created (e.g. its weights are not installed):
    the server's problem, not the caller's, so 503 rather than 404."""


class ObjectNotFoundError(BadInputError):
    """The event names an object the reader cannot find."""


class ObjectTooLargeError(BadInputError):
    """The object is larger than the configured limit."""


class StoreError(NativaError):
    """The object store failed (not the caller's fault): network, credentials, server error."""


class MissingTextError(BadInputError):
    """The event carries no input text; `param` names where it was expected."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


class EventInputError(BadInputError):
    """A field of an event (a record, its source, its text) is not what the event contract takes; `param`
    names it."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


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


# Names from before every class ended in `Error`; kept so existing imports and `except` clauses keep working.
Cancelled = CancelledError
RequestTimeout = RequestTimeoutError
ClientGone = ClientGoneError
ScriptExhausted = ScriptExhaustedError
RequestRefused = RequestRefusedError
SQLRefused = SQLRefusedError
_OLD_NAMES: dict[type[BaseException], str] = {
    CancelledError: "Cancelled", RequestTimeoutError: "RequestTimeout", ClientGoneError: "ClientGone",
    ScriptExhaustedError: "ScriptExhausted", RequestRefusedError: "RequestRefused", SQLRefusedError: "SQLRefused",
}


def error_name(exc: BaseException) -> str:
    """The name a result's `error_type` field reports: the class name, or the name a renamed class had, so a
    value users match on (`"SQLRefused"` in a tool result) stays what it was."""
    return _OLD_NAMES.get(type(exc), type(exc).__name__)


def run_entry(command: Any, argv: list[str], prog_name: str, report: Callable[[str], None] | None = None) -> int:
    """Run a click/Typer command and turn whatever ends it into an exit code and at most one line on stderr:
    the one mapping every entry point uses (`nativa ...` and `python -m nativa.serve`), so no user of either
    sees a traceback. `NativaError` -> its line and `exit_code` (2 bad input, 1 failure); usage errors -> click's
    usage text, 2; Ctrl-C -> 130; anything else -> one line naming it, 1 (its traceback goes to the log)."""
    import click
    import typer  # Typer vendors its own click: its exceptions are not click's

    say = report or (lambda line: sys.stderr.write(line + "\n"))
    try:
        rv = command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except NativaError as exc:
        say(f"error: {exc}")
        return exc.exit_code
    except (typer.Exit, click.exceptions.Exit) as exc:
        return int(exc.exit_code)
    except (typer.Abort, click.exceptions.Abort, KeyboardInterrupt):
        say("aborted")
        return 130
    except (typer.TyperException, click.exceptions.ClickException) as exc:  # usage errors, bad values: exit 2
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            say(f"error: {exc.format_message()}")
        return int(getattr(exc, "exit_code", 2))
    except Exception as exc:
        logging.getLogger("nativa").debug("unexpected error in %s", prog_name, exc_info=True)
        say(f"error: unexpected {type(exc).__name__}: {exc} (a bug in nativa: please report it)")
        return 1
    return rv if isinstance(rv, int) else 0
