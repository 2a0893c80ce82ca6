"""`Memory`: the sessions, the vector memories and the embedder behind one object, for one owner.

    from nativa.memory import open_memory
    memory = open_memory(settings)                      # NATIVA_MEMORY_URL: a SQLite path or postgresql://...
    item = memory.remember("The deploy key lives in vault://ops/deploy", ttl_s=86400)
    hits = memory.recall("where is the deploy key?", k=3)   # [Recall(item, score)], best first
    memory.forget(item.id); memory.compact()            # gone from the file's bytes, not just hidden

The owner scopes everything: the server passes each API key's digest, so one key's sessions and memories
are invisible to another's; locally the owner is "".
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nativa import tracing
from nativa.config import Settings
from nativa.errors import BadInputError, EmbedderMissingError, MemoryNotFoundError, SessionNotFoundError
from nativa.memory.types import (
    AgentRun,
    Embedder,
    MemoryItem,
    MessageRole,
    NewMemory,
    Recall,
    RunKind,
    Session,
    SessionStore,
    StoredMessage,
    VectorStore,
)

SessionRef = Session | str
_NAME_MAX = 200
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_PIECE_WORDS = 60


def sentences(text: str) -> list[str]:
    """A message cut into sentences (long ones into pieces of at most 60 words), each remembered on its own.

    One embedding per message blurs a fact said in passing ("my sister lives in Porto. Anyway, ...") with
    the rest of the message, and a question about the fact no longer finds it; per sentence it does."""
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        words = sentence.split()
        for start in range(0, len(words), _PIECE_WORDS):
            piece = " ".join(words[start:start + _PIECE_WORDS])
            if piece:
                out.append(piece)
    return out


def check_name(name: str, what: str = "session") -> str:
    """The name stripped, or a BadInputError when it is empty, too long or holds control characters (it
    is shown in listings and used as a key)."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > _NAME_MAX or any(ord(c) < 32 for c in cleaned):
        raise BadInputError(f"{what} name {name!r} is not valid: give 1 to {_NAME_MAX} printable characters")
    return cleaned


class Memory:
    """What nativa keeps between processes, for one owner."""

    def __init__(self, sessions: SessionStore, vectors: VectorStore, embedder: Embedder | None, *, owner: str = "",
                 max_items: int = 100_000, default_ttl_s: float | None = None) -> None:
        self.sessions = sessions
        self.vectors = vectors
        self.embedder = embedder
        self.owner = owner
        self.max_items = max_items
        self.default_ttl_s = default_ttl_s

    @property
    def location(self) -> str:
        """Where the memory lives (a file path or a database URL, password masked), for messages and `nativa
        memory`.
        """
        return self.sessions.location

    def for_owner(self, owner: str) -> Memory:
        """The same stores seen by another owner (the server makes one per API key)."""
        return Memory(self.sessions, self.vectors, self.embedder, owner=owner, max_items=self.max_items,
                      default_ttl_s=self.default_ttl_s)

    # -- sessions ----------------------------------------------------------------------------------
    def session(self, ref: SessionRef, *, create: bool = False, metadata: dict[str, Any] | None = None) -> Session:
        """The session called `ref` (created when `create`); an unknown name is a `SessionNotFoundError`."""
        if isinstance(ref, Session):
            return ref
        name = check_name(ref)
        if create:
            return self.sessions.create_session(name, owner=self.owner, metadata=metadata)
        found = self.sessions.find_session(name, owner=self.owner)
        if found is None:
            raise SessionNotFoundError(f"no session named {name!r}; list them with `nativa memory sessions` "
                                       "(a chat creates its session on first use)")
        return found

    def list_sessions(self, limit: int = 1000) -> list[Session]:
        """This owner's sessions, most recently used first."""
        return self.sessions.list_sessions(owner=self.owner, limit=limit)

    def messages(self, ref: SessionRef, *, after_id: int = 0, limit: int | None = None) -> list[StoredMessage]:
        """A session's messages in order; `after_id` pages through long histories."""
        return self.sessions.messages(self.session(ref), after_id=after_id, limit=limit)

    def add_turn(self, ref: SessionRef, messages: Sequence[tuple[MessageRole, str]], *,
                 count_tokens: Any = None, remember_roles: Sequence[str] = ("user",),
                 namespace: str = "default") -> list[StoredMessage]:
        """Store a turn's messages in one transaction, then remember the user's words, sentence by sentence.

        Only the user's messages become long-term memories by default: the model's replies may be wrong,
        and recalling its own mistakes as facts would make them stick."""
        session = self.session(ref)
        count = count_tokens or (lambda text: len(text.split()))
        stored = self.sessions.add_messages(session, [(role, text, int(count(text))) for role, text in messages])
        pieces = [(m, piece) for m in stored if m.role in remember_roles for piece in sentences(m.content)]
        if pieces and self.embedder is not None:
            self.remember_many([piece for _, piece in pieces], namespace=namespace, session=session,
                               metadata=[{"role": m.role, "message_id": m.id} for m, _ in pieces])
        return stored

    def record_run(self, ref: SessionRef, kind: RunKind, task: str, result: dict[str, Any],
                   trace_id: str | None) -> AgentRun:
        """Keep an agent run's JSON result with its session, so a later turn can refer back to it."""
        return self.sessions.add_run(self.session(ref), kind, task, result, trace_id)

    def runs(self, ref: SessionRef, limit: int = 100) -> list[AgentRun]:
        """A session's recorded agent runs, newest first."""
        return self.sessions.runs(self.session(ref), limit=limit)

    # -- long-term memories ------------------------------------------------------------------------
    def _embedder(self) -> Embedder:
        if self.embedder is None:
            raise EmbedderMissingError("no embedder is configured (NATIVA_EMBEDDER=none); set NATIVA_EMBEDDER=minilm "
                                "(the 'memory' extra) or openai:<model> to remember and recall")
        return self.embedder

    def remember(self, text: str, *, namespace: str = "default", session: SessionRef | None = None,
                 metadata: dict[str, Any] | None = None, ttl_s: float | None = None) -> MemoryItem:
        """Store `text` with its embedding; it expires after `ttl_s` (default: NATIVA_MEMORY_TTL_S, or never)."""
        return self.remember_many([text], namespace=namespace, session=session,
                                  metadata=[metadata or {}], ttl_s=ttl_s)[0]

    def remember_many(self, texts: Sequence[str], *, namespace: str = "default", session: SessionRef | None = None,
                      metadata: Sequence[dict[str, Any]] | None = None, ttl_s: float | None = None,
                      vectors: Sequence[Sequence[float]] | None = None) -> list[MemoryItem]:
        """Several memories in one transaction (and one embedding batch, unless `vectors` are given)."""
        check_name(namespace, "namespace")
        if any(not t.strip() for t in texts):
            raise BadInputError("a memory's text is empty; give the words to remember")
        ttl = ttl_s if ttl_s is not None else self.default_ttl_s
        if ttl is not None and ttl <= 0:
            raise BadInputError(f"ttl_s must be > 0 seconds, got {ttl}")
        embedder = self._embedder()
        target = self.session(session) if session is not None else None
        vecs = vectors if vectors is not None else embedder.embed(list(texts))
        expires = time.time() + ttl if ttl is not None else None
        metas = list(metadata) if metadata is not None else [{} for _ in texts]
        items = [NewMemory(t, v, m, expires) for t, v, m in zip(texts, vecs, metas, strict=True)]
        return self.vectors.add(items, namespace=namespace, owner=self.owner, session=target,
                                model=embedder.name, max_items=self.max_items)

    def recall(self, query: str, *, k: int = 5, namespace: str = "default", session: SessionRef | None = None,
               min_score: float | None = None, vector: Sequence[float] | None = None) -> list[Recall]:
        """The `k` memories closest in meaning to `query`, best first, as a `memory.recall` span."""
        if not 0 <= k <= 1000:
            raise BadInputError(f"k must be between 0 and 1000, got {k}")
        embedder = self._embedder()
        target = self.session(session) if session is not None else None
        with tracing.span("memory.recall", {"nativa.memory.namespace": namespace, "nativa.memory.k": k,
                                            "nativa.memory.backend": type(self.vectors).__name__}) as span:
            query_vector = vector if vector is not None else embedder.embed([query])[0]
            hits = self.vectors.search(query_vector, k=k, namespace=namespace, owner=self.owner, model=embedder.name,
                                       session=target, min_score=min_score)
            span.set_attribute("nativa.memory.recalled", len(hits))
            span.set_attribute("nativa.memory.ids", [h.item.id for h in hits])
            span.set_attribute("nativa.memory.scores", [round(h.score, 4) for h in hits])
        return hits

    def list_memories(self, *, namespace: str | None = None, session: SessionRef | None = None,
                      limit: int = 100) -> list[MemoryItem]:
        """Memories in a namespace (or a session's), for inspection and `nativa memory list`."""
        target = self.session(session) if session is not None else None
        return self.vectors.list(owner=self.owner, namespace=namespace, session=target, limit=limit)

    def forget(self, id: int | None = None, *, namespace: str | None = None, session: SessionRef | None = None,
               older_than_s: float | None = None) -> int:
        """Delete memories matching every filter given; returns how many records went.

        `session` alone removes the whole session: its memories, messages, agent runs and summaries.
        Call `compact()` afterwards for the bytes to leave the disk (the CLI and the server do)."""
        if id is None and namespace is None and session is None and older_than_s is None:
            raise BadInputError("forget needs something to forget: an id, a namespace, a session or older_than_s")
        if id is not None and not 1 <= id < 2**63:
            raise MemoryNotFoundError(f"no memory with id {id}; ids are positive integers (`nativa memory list`)")
        if older_than_s is not None and older_than_s < 0:
            raise BadInputError(f"older_than_s must be >= 0, got {older_than_s}")
        target = self.session(session) if session is not None else None
        removed = self.vectors.delete(owner=self.owner, id=id, namespace=namespace, session=target,
                                      older_than_s=older_than_s)
        if id is not None and removed == 0:
            raise MemoryNotFoundError(f"no memory with id {id}; list them with `nativa memory list`")
        if target is not None and id is None and namespace is None and older_than_s is None:
            removed += self.sessions.delete_session(target)
        return removed

    def compact(self) -> None:
        """Rewrite the store so deleted rows are gone from its files, not merely unlinked."""
        with tracing.span("memory.compact", {"nativa.memory.location": self.location}):
            self.vectors.compact()

    def close(self) -> None:
        """Release the database connections: a server closes its memory on shutdown."""
        self.vectors.close()
        self.sessions.close()


def open_memory(settings: Settings, *, embedder: Embedder | None | str = "settings", owner: str = "") -> Memory:
    """Open (and migrate) the store `NATIVA_MEMORY_URL` names: a SQLite file, or PostgreSQL with pgvector."""
    from nativa.memory.embed import resolve_embedder

    chosen = resolve_embedder(settings) if embedder == "settings" else embedder
    assert not isinstance(chosen, str)
    location = settings.memory_location
    sessions: SessionStore
    vectors: VectorStore
    if location.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        from nativa.memory.postgres import PostgresDatabase, PostgresVectorStore
        from nativa.memory.sessions import SQLSessionStore

        pg = PostgresDatabase(location, busy_timeout_s=settings.memory_busy_timeout_s)
        sessions, vectors = SQLSessionStore(pg), PostgresVectorStore(pg)
    else:
        from nativa.memory._sqlite import SQLiteDatabase
        from nativa.memory.sessions import SQLSessionStore
        from nativa.memory.vectors import SQLiteVectorStore

        path = Path(location.removeprefix("sqlite:///") if location.startswith("sqlite:///") else location)
        db = SQLiteDatabase(path.expanduser(), busy_timeout_s=settings.memory_busy_timeout_s)
        sessions, vectors = SQLSessionStore(db), SQLiteVectorStore(db)
    return Memory(sessions, vectors, chosen, owner=owner, max_items=settings.memory_max_items,
                  default_ttl_s=settings.memory_ttl_s)
