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
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Recall:
    """A recalled memory and its cosine similarity to the query (1 is identical)."""

    item: MemoryItem
    score: float

    def to_dict(self) -> dict[str, Any]:
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

    def create_session(self, name: str, *, owner: str = "", metadata: dict[str, Any] | None = None) -> Session: ...

    def find_session(self, name: str, *, owner: str = "") -> Session | None: ...

    def list_sessions(self, *, owner: str = "", limit: int = 1000) -> list[Session]: ...

    def delete_session(self, session: Session) -> int: ...

    def add_messages(self, session: Session, messages: Sequence[tuple[MessageRole, str, int]]) -> list[StoredMessage]: ...

    def messages(self, session: Session, *, after_id: int = 0, limit: int | None = None) -> list[StoredMessage]: ...

    def add_run(self, session: Session, kind: RunKind, task: str, result: dict[str, Any],
                trace_id: str | None) -> AgentRun: ...

    def runs(self, session: Session, *, limit: int = 100) -> list[AgentRun]: ...

    def add_summary(self, session: Session, upto_message_id: int, content: str, tokens: int) -> Summary: ...

    def latest_summary(self, session: Session) -> Summary | None: ...

    def close(self) -> None: ...


@runtime_checkable
class VectorStore(Protocol):
    """Memories with embeddings in namespaces, each namespace bound to one embedder (model and dimension)."""

    location: str

    def add(self, items: Sequence[NewMemory], *, namespace: str, owner: str, session: Session | None,
            model: str, max_items: int) -> list[MemoryItem]: ...

    def search(self, vector: Sequence[float], *, k: int, namespace: str, owner: str, model: str,
               session: Session | None = None, min_score: float | None = None) -> list[Recall]: ...

    def delete(self, *, owner: str, id: int | None = None, namespace: str | None = None,
               session: Session | None = None, older_than_s: float | None = None) -> int: ...

    def list(self, *, owner: str, namespace: str | None = None, session: Session | None = None,
             limit: int = 100) -> list[MemoryItem]: ...

    def count(self, *, owner: str, namespace: str) -> int: ...

    def compact(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors; `name` and `dim` are stored with each namespace it writes."""

    name: str

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...
