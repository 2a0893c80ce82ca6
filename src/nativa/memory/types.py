"""What the memory stores hold, as typed records, and the protocols every backend implements.

Two stores sit behind one `Memory` (see `memory.py`): a `SessionStore` (sessions, their messages, the agent
runs inside them, the running summaries) and a `VectorStore` (long-term memories with embeddings). SQLite
and PostgreSQL implement both; one conformance suite (tests/unit/memory/test_conformance.py) holds each to
the same contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

MessageRole = Literal["system", "user", "assistant", "tool"]
RunKind = Literal["code", "run"]


@dataclass(frozen=True, slots=True)
class Session:
    """A named conversation of one owner (an API key's digest on the server, "" locally)."""

    id: int
    name: str
    owner: str
    created_at: float
    updated_at: float
    message_count: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape the CLI and the server show; the owner (a key digest) stays out of it."""
        out = asdict(self)
        out.pop("owner")  # a key digest is nobody's business but the server's
        return out


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as stored, with its id and token count, so context building can page and budget without re-
    tokenizing.
    """

    id: int
    session_id: int
    role: MessageRole
    content: str
    tokens: int
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape `nativa memory sessions` and the server's session routes return."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AgentRun:
    """One `nativa code` / `nativa run` inside a session: the task and the agent's whole result as JSON."""

    id: int
    session_id: int
    kind: RunKind
    task: str
    result: dict[str, Any]
    trace_id: str | None
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape a run is listed in; `result` is the agent's result as it was stored."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Summary:
    """The running summary of a session's messages up to and including `upto_message_id`, stored once."""

    id: int
    session_id: int
    upto_message_id: int
    content: str
    tokens: int
    created_at: float


@dataclass(frozen=True, slots=True)
class MemoryItem:
    """A long-term memory as stored: the text, where it belongs, and when it expires."""

    id: int
    text: str
    namespace: str
    session: str | None
    metadata: dict[str, Any]
    created_at: float
    expires_at: float | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape `nativa memory list` and the memory routes return."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Recall:
    """A recalled memory and its cosine similarity to the query (1 is identical)."""

    item: MemoryItem
    score: float

    def to_dict(self) -> dict[str, Any]:
        """The memory's own fields with its `score` beside them, flat, so a caller reads one object."""
        return {"score": self.score, **self.item.to_dict()}


@dataclass(frozen=True, slots=True)
class NewMemory:
    """A memory to store, with its embedding already computed."""

    text: str
    vector: Sequence[float]
    metadata: dict[str, Any] = field(default_factory=dict)
    expires_at: float | None = None


@runtime_checkable
class SessionStore(Protocol):
    """Sessions, messages, agent runs and summaries. Every write is one short transaction."""

    location: str

    def create_session(self, name: str, *, owner: str = "", metadata: dict[str, Any] | None = None) -> Session:
        """Create the session, or return the existing one of that name: creating is idempotent, so a
        client may call it on every turn."""
        ...

    def find_session(self, name: str, *, owner: str = "") -> Session | None:
        """The owner's session of that name, or None: one owner never sees another's sessions."""
        ...

    def list_sessions(self, *, owner: str = "", limit: int = 1000) -> list[Session]:
        """The owner's sessions, most recently used first."""
        ...

    def delete_session(self, session: Session) -> int:
        """Delete the session with its messages, runs and summaries; returns how many messages went."""
        ...

    def add_messages(self, session: Session, messages: Sequence[tuple[MessageRole, str, int]]) -> list[StoredMessage]:
        """Append (role, content, tokens) messages in one transaction, so a turn is stored whole or not
        at all."""
        ...

    def messages(self, session: Session, *, after_id: int = 0, limit: int | None = None) -> list[StoredMessage]:
        """Messages after `after_id`, oldest first; with `limit`, only the newest `limit` of them (the
        context builder pages from the last summary)."""
        ...

    def add_run(self, session: Session, kind: RunKind, task: str, result: dict[str, Any],
                trace_id: str | None) -> AgentRun:
        """Record an agent run and its whole result (as JSON) in the session, so its history shows what each
        run did."""
        ...

    def runs(self, session: Session, *, limit: int = 100) -> list[AgentRun]:
        """The newest `limit` runs, oldest first."""
        ...

    def add_summary(self, session: Session, upto_message_id: int, content: str, tokens: int) -> Summary:
        """Store the summary of messages up to `upto_message_id`; summaries it supersedes are removed."""
        ...

    def latest_summary(self, session: Session) -> Summary | None:
        """The summary covering the most messages, or None: the context starts from it."""
        ...

    def close(self) -> None:
        """Release the database connection; closing it twice (the two stores share one) is harmless."""
        ...


@runtime_checkable
class VectorStore(Protocol):
    """Memories with embeddings in namespaces, each namespace bound to one embedder (model and dimension)."""

    location: str

    def add(self, items: Sequence[NewMemory], *, namespace: str, owner: str, session: Session | None,
            model: str, max_items: int) -> list[MemoryItem]:
        """Store memories in a namespace; past `max_items` the oldest are evicted in the same transaction,
        and a namespace refuses vectors of another embedder (DimensionMismatchError)."""
        ...

    def search(self, vector: Sequence[float], *, k: int, namespace: str, owner: str, model: str,
               session: Session | None = None, min_score: float | None = None) -> list[Recall]:
        """The `k` memories closest to `vector` by cosine, best first, at least `min_score`; expired
        memories never come back."""
        ...

    def delete(self, *, owner: str, id: int | None = None, namespace: str | None = None,
               session: Session | None = None, older_than_s: float | None = None) -> int:
        """Delete the owner's memories matching every filter given; returns how many went."""
        ...

    def list(self, *, owner: str, namespace: str | None = None, session: Session | None = None,
             limit: int = 100) -> list[MemoryItem]:
        """The owner's newest live memories first (expired ones excluded)."""
        ...

    def count(self, *, owner: str, namespace: str) -> int:
        """How many memories the namespace holds, from a counter (cheap enough to call on every write)."""
        ...

    def compact(self) -> None:
        """Reclaim the space of deleted memories, so a forgotten memory's bytes leave the disk."""
        ...

    def close(self) -> None:
        """Release the database connection; closing it twice (the two stores share one) is harmless."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors; `name` and `dim` are stored with each namespace it writes."""

    name: str

    @property
    def dim(self) -> int:
        """The vectors' length, stored with each namespace so another embedder cannot write into it."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text, in order (cosine similarity is then a dot product)."""
        ...
