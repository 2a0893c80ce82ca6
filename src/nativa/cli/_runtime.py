"""Objects the commands build from settings: the model (with a progress bar on first assembly), the
sandbox, tracing, the review gate, and text files read with a clear error."""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nativa.config import Settings
from nativa.errors import BadInputError
from nativa.models import ChatModel, resolve_model
from nativa.models.cascade import CascadeModel
from nativa.models.local import LocalModel
from nativa.models.weights import rich_progress

if TYPE_CHECKING:
    from nativa.sandbox import Sandbox


def open_model(name: str | None, cfg: Settings) -> ChatModel:
    """Resolve the model and load it now, so a first-run assembly shows its progress bar here.

    Commands that use a model also start tracing, so every run leaves a trace (`nativa traces ls`).
    """
    from nativa import tracing

    tracing.setup(cfg)
    update, close = rich_progress("assembling model weights")
    try:
        model = resolve_model(name or cfg.model, cfg, progress=update)
        if isinstance(model, LocalModel | CascadeModel):
            model.load()  # a cascade warms its first stage only; the others load when first escalated to
    finally:
        close()
    return model


def open_sandbox(cfg: Settings, pool_size: int = 1) -> Sandbox:
    """A sandbox with pre-started interpreters, so each attempt's run skips the start-up."""
    from nativa.sandbox import Sandbox

    return Sandbox(allow_weak=cfg.sandbox_allow_weak, pool_size=pool_size)


def read_text_file(path: Path, what: str) -> str:
    """A UTF-8 file's text; an unreadable or non-UTF-8 file is a `BadInputError` naming `what`."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise BadInputError(f"cannot read {what} {path}: {reason}") from None


def open_memory_store(cfg: Settings) -> Any:
    """The sessions and memories the settings name (`NATIVA_MEMORY_URL`, default `$NATIVA_HOME/nativa.db`)."""
    from nativa.memory import open_memory

    return open_memory(cfg)


def open_agent_session(cfg: Settings, name: str, model: ChatModel) -> Any:
    """`--session NAME` of `nativa code` / `nativa run`: the session (created if new) around the agent's run."""
    from nativa.memory.conversation import AgentSession

    memory = open_memory_store(cfg)
    return AgentSession(memory, memory.session(name, create=True), model.count_tokens,
                        budget_tokens=max(256, cfg.n_ctx // 4))


def marked_local_only(recorder: Any) -> bool:
    """Whether the run's session is marked local-only (`metadata: {"local_only": true}`): all its runs then
    stay off remote models, as if each were given `--local-only`."""
    session = getattr(recorder, "session", None)
    return bool(session is not None and (session.metadata or {}).get("local_only"))


def local_user() -> str:
    """Who answers at this terminal, for the audit log."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER: still someone at this terminal
        return "local"


@contextmanager
def review_gate(cfg: Settings, mode: str | None, *, granted: bool, session: str | None,
                allow_hosts: Sequence[str] = (), allow_writes: bool = False, db: str | None = None) -> Iterator[Any]:
    """`--review` of `nativa code` / `nativa run`: a gate asking at this terminal (fails closed without one),
    recording to the audit log in the review database; None for `never`. `granted`: the user granted more
    than the sandbox (hosts, writes, a database), which makes `risky` the default."""
    from nativa.agent.review_gate import ReviewGate
    from nativa.cli._common import err
    from nativa.review import Policy, ReviewContext
    from nativa.review.approvals import Approvals, Reviewer, check_mode
    from nativa.review.audit import AuditLog
    from nativa.review.context import sql_backend_of
    from nativa.review.store import SQLiteReviewStore
    from nativa.review.terminal import TerminalPrompter

    chosen = check_mode(mode if mode is not None else ("risky" if granted else "never"))
    if chosen == "never":
        yield None
        return
    policy = Policy.load(cfg.review_policy)
    context = ReviewContext(session=session or f"run-{uuid.uuid4().hex[:12]}", who=local_user(),
                            allow_hosts=tuple(allow_hosts), allow_writes=allow_writes, sql_backend=sql_backend_of(db))
    with SQLiteReviewStore(cfg.review_db_path) as store:
        reviewer = Reviewer(policy, mode=chosen, approvals=Approvals(store), prompter=TerminalPrompter(err),
                            audit=AuditLog(store))
        yield ReviewGate(reviewer, context)
