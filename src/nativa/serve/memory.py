"""`/v1/sessions` and `/v1/memories`, and the `session` field of `/v1/chat/completions`, `/v1/code`, `/v1/run`.

The store is the one `NATIVA_MEMORY_URL` names (SQLite by default; PostgreSQL when several servers share
one memory), opened on first use. Each API key is its own owner: the store is keyed by a digest of the
presented key, so sessions and memories written with one key are invisible with another (servers that
share a PostgreSQL memory but not a key share nothing). Without a key everything belongs to "".
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from nativa.errors import (
    EmbedderError,
    EmbedderMissingError,
    MemoryNotFoundError,
    MemoryStoreError,
    SessionNotFoundError,
)
from nativa.memory import Memory, open_memory
from nativa.memory.context import ContextBuilder
from nativa.memory.conversation import AgentSession, record_turn
from nativa.memory.types import Session
from nativa.models.base import ChatModel, Message
from nativa.serve.errors import ApiError
from nativa.serve.state import get_state

router = APIRouter()
_open_lock = threading.Lock()
MAX_ID = 2**63 - 1  # the stores' integer ids
_NAME = Field(min_length=1, max_length=200)
_SESSION = Path(min_length=1, max_length=200, description="The session's name (at most 200 characters).")


# -- the store, per owner ------------------------------------------------------------------------------
def owner_of(request: Request) -> str:
    """A digest of the presented key when the server has keys, else "" (loopback without a key)."""
    if not get_state(request).config.key:
        return ""
    return owner_for_key(request.headers.get("authorization", "").partition(" ")[2].strip())


def owner_for_key(key: str | None) -> str:
    """The owner a key's requests read and write as (the console signs in with the server's key)."""
    return "key:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:24] if key else ""


def memory_for(request: Request, owner: str | None = None) -> Memory:
    """The server's memory (opened once, on first use) as the request's owner (or `owner`) sees it."""
    app = request.app
    base: Memory | None = getattr(app.state, "nativa_memory", None)
    if base is None:
        with _open_lock, mapped():
            base = getattr(app.state, "nativa_memory", None)
            if base is None:
                base = app.state.nativa_memory = open_memory(get_state(request).settings)
    return base.for_owner(owner_of(request) if owner is None else owner)


@contextmanager
def mapped() -> Iterator[None]:
    """Memory errors as HTTP answers: an unknown session or memory is 404, a store that fails is 503."""
    try:
        yield
    except (SessionNotFoundError, MemoryNotFoundError) as exc:
        code = "session_not_found" if isinstance(exc, SessionNotFoundError) else "memory_not_found"
        raise ApiError(404, str(exc).split(";")[0], param="session" if code == "session_not_found" else "id",
                       code=code) from None
    except EmbedderMissingError as exc:
        raise ApiError(501, f"memories are not available on this server: {exc}", code="not_implemented") from None
    except EmbedderError as exc:
        raise ApiError(503, f"the embedder is unavailable on this server: {exc}", code="embedder_unavailable") from None
    except MemoryStoreError as exc:
        raise ApiError(503, f"the memory store is unavailable: {exc}", code="memory_unavailable") from None


def existing_session(request: Request, name: str) -> tuple[Memory, Session]:
    """The request key's memory and the named session, which must exist (404 otherwise, via `mapped`)."""
    memory = memory_for(request)
    with mapped():
        return memory, memory.session(name)


# -- what the chat and agent routes use ------------------------------------------------------------------
class ChatSession:
    """`session` on /v1/chat/completions: the server keeps the history, so the body's last user message is the
    new turn; the body's system messages, if any, replace the default system prompt."""

    def __init__(self, memory: Memory, session: Session, messages: Sequence[Message], *, k: int = 5,
                 min_score: float | None = None) -> None:
        self.k, self.min_score = k, min_score
        users = [m for m in messages if m.role == "user"]
        if not users:
            raise ApiError(422, "messages: with 'session', send the new user message (the server keeps the rest)",
                           param="messages")
        self.memory, self.session, self.query = memory, session, users[-1].content
        self.system = "\n\n".join(m.content for m in messages if m.role == "system") or None

    def messages(self, model: ChatModel, reply_tokens: int) -> list[Message]:
        """The prompt for this turn: system prompt, recalled memories, summary and recent history, within the
        model's context less `reply_tokens`."""
        builder = ContextBuilder(self.memory, model, reply_tokens=reply_tokens, system_prompt=self.system,
                                 k=self.k, min_score=self.min_score)
        with mapped():
            return builder.build(self.session, self.query).messages

    def record(self, model: ChatModel, reply: str) -> None:
        """Store the turn (query and reply) in the session, so the next request sees it."""
        with mapped():
            record_turn(self.memory, self.session, self.query, reply, model)


def chat_session(request: Request, name: str, messages: Sequence[Message]) -> ChatSession:
    """A ChatSession for `session` on a chat request, with the server's recall settings."""
    memory, session = existing_session(request, name)
    settings = get_state(request).settings
    return ChatSession(memory, session, messages, k=settings.memory_recall_k, min_score=settings.memory_min_score)


def agent_session(request: Request, name: str) -> Callable[[ChatModel], AgentSession]:
    """For /v1/code and /v1/run: resolve the session now (404 before any work), bind the model later."""
    memory, session = existing_session(request, name)
    budget = max(256, get_state(request).settings.n_ctx // 4)
    return lambda model: AgentSession(memory, session, model.count_tokens, budget_tokens=budget)


# -- bodies ------------------------------------------------------------------------------------------------
class SessionCreate(BaseModel):
    """POST /v1/sessions: a name (or a random one) and free metadata."""
    name: str | None = Field(None, min_length=1, max_length=200, description="Default: a fresh random name.")
    metadata: dict[str, Any] = Field(default_factory=dict)


class SessionOut(BaseModel):
    """A session as the API shows it."""
    id: int
    name: str
    created_at: float
    updated_at: float
    message_count: int
    metadata: dict[str, Any]


class MessageOut(BaseModel):
    """One stored message of a session."""
    id: int
    role: str
    content: str
    tokens: int
    created_at: float


class RunOut(BaseModel):
    """One agent run kept in a session, with its result."""
    id: int
    kind: str
    task: str
    result: dict[str, Any]
    trace_id: str | None
    created_at: float


class SessionDetail(SessionOut):
    """A session with its messages and runs (GET /v1/sessions/{name})."""
    messages: list[MessageOut]
    runs: list[RunOut]


class SessionList(BaseModel):
    """The key's sessions, newest first."""
    object: str = "list"
    data: list[SessionOut]


class Deleted(BaseModel):
    """The answer to a delete: how many records went, and that the store was compacted."""
    deleted: int = Field(description="Records removed (memories, and for a session its messages too).")
    compacted: bool = True


class MemoryCreate(BaseModel):
    """POST /v1/memories: a text to remember, where, and for how long."""
    text: str = Field(min_length=1, max_length=100_000)
    namespace: str = Field("default", min_length=1, max_length=200)
    session: str | None = Field(None, min_length=1, max_length=200, description="Forgotten with this session.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    ttl_s: float | None = Field(None, gt=0, description="Forget after this many seconds.")


class MemoryOut(BaseModel):
    """One stored memory as the API shows it."""
    id: int
    text: str
    namespace: str
    session: str | None
    metadata: dict[str, Any]
    created_at: float
    expires_at: float | None


class MemorySearch(BaseModel):
    """POST /v1/memories/search: a query and where to look."""
    query: str = Field(min_length=1, max_length=20_000)
    k: int = Field(5, ge=1, le=1000)
    namespace: str = Field("default", min_length=1, max_length=200)
    session: str | None = Field(None, min_length=1, max_length=200)
    min_score: float | None = Field(None, ge=-1.0, le=1.0)


class RecallOut(MemoryOut):
    """A memory found by a search, with its similarity score."""
    score: float


class MemoryList(BaseModel):
    """Memories, newest first."""
    object: str = "list"
    data: list[MemoryOut]


class RecallList(BaseModel):
    """Search hits, best first."""
    object: str = "list"
    data: list[RecallOut]


_404 = {404: {"description": "no such session (or memory) for this key"}}


# -- routes (plain `def`: FastAPI runs them on its thread pool, off the event loop) --------------------
@router.post("/v1/sessions", response_model=SessionOut, status_code=201, summary="Create a session")
def create_session(body: SessionCreate, request: Request) -> Any:
    """A new session for this key; without a name it gets a random `s-...` one."""
    import secrets

    memory = memory_for(request)
    with mapped():
        return memory.session(body.name or "s-" + secrets.token_hex(6), create=True, metadata=body.metadata).to_dict()


@router.get("/v1/sessions", response_model=SessionList, summary="This key's sessions, newest first")
def list_sessions(request: Request) -> Any:
    """Every session of this key, newest first."""
    memory = memory_for(request)
    with mapped():
        return SessionList(data=[SessionOut(**s.to_dict()) for s in memory.list_sessions()])


@router.get("/v1/sessions/{name}", response_model=SessionDetail, summary="A session with its messages and runs",
            responses=_404)
def get_session(request: Request, name: str = _SESSION, limit: int = Query(200, ge=1, le=10_000)) -> Any:
    """The session with up to `limit` messages and all its runs."""
    memory, session = existing_session(request, name)
    with mapped():
        messages = memory.messages(session, limit=limit)
        runs = memory.runs(session)
    return SessionDetail(**session.to_dict(), messages=[MessageOut(**m.to_dict()) for m in messages],
                         runs=[RunOut(**r.to_dict()) for r in runs])


@router.delete("/v1/sessions/{name}", response_model=Deleted, summary="Delete a session and all derived from it",
               responses=_404)
def delete_session(request: Request, name: str = _SESSION) -> Any:
    """Delete the session with its messages, runs, summaries and memories, then compact the store."""
    memory, session = existing_session(request, name)
    with mapped():
        removed = memory.forget(session=session)
        memory.compact()
    return Deleted(deleted=removed)


@router.post("/v1/memories", response_model=MemoryOut, status_code=201, summary="Remember a text",
             responses=_404)
def add_memory(body: MemoryCreate, request: Request) -> Any:
    """Store a text (embedded for search); with `ttl_s` it is forgotten after that long."""
    memory = memory_for(request)
    with mapped():
        return memory.remember(body.text, namespace=body.namespace, session=body.session, metadata=body.metadata,
                               ttl_s=body.ttl_s).to_dict()


@router.get("/v1/memories", response_model=MemoryList, summary="Memories, newest first", responses=_404)
def list_memories(request: Request, namespace: str | None = Query(None, min_length=1, max_length=200),
                  session: str | None = Query(None, min_length=1, max_length=200),
                  limit: int = Query(100, ge=1, le=10_000)) -> Any:
    """This key's memories, newest first, optionally of one namespace or session."""
    memory = memory_for(request)
    with mapped():
        items = memory.list_memories(namespace=namespace, session=session, limit=limit)
    return MemoryList(data=[MemoryOut(**i.to_dict()) for i in items])


@router.post("/v1/memories/search", response_model=RecallList, summary="Memories closest in meaning to a query",
             responses=_404)
def search_memories(body: MemorySearch, request: Request) -> Any:
    """The `k` memories closest in meaning to the query, best first."""
    memory = memory_for(request)
    with mapped():
        hits = memory.recall(body.query, k=body.k, namespace=body.namespace, session=body.session,
                             min_score=body.min_score)
    return RecallList(data=[RecallOut(**h.to_dict()) for h in hits])


@router.delete("/v1/memories/{memory_id}", response_model=Deleted, summary="Forget one memory", responses=_404)
def delete_memory(request: Request, memory_id: int = Path(ge=1, le=MAX_ID)) -> Any:
    """Forget one memory by id (404 if this key has none with it) and compact the store."""
    memory = memory_for(request)
    with mapped():
        removed = memory.forget(memory_id)
        memory.compact()
    return Deleted(deleted=removed)


@router.delete("/v1/memories", response_model=Deleted, summary="Forget memories by namespace, session or age",
               responses=_404)
def delete_memories(request: Request, namespace: str | None = Query(None, min_length=1, max_length=200),
                    session: str | None = Query(None, min_length=1, max_length=200),
                    older_than_s: float | None = Query(None, ge=0, le=1e12)) -> Any:
    """Forget memories by namespace, session or age; at least one filter is required."""
    memory = memory_for(request)
    if namespace is None and session is None and older_than_s is None:
        raise ApiError(422, "give namespace, session or older_than_s (to forget one memory: DELETE /v1/memories/{id})",
                       param="namespace")
    with mapped():
        target = memory.session(session) if session is not None else None
        removed = memory.vectors.delete(owner=memory.owner, namespace=namespace, session=target,
                                        older_than_s=older_than_s)
        memory.compact()
    return Deleted(deleted=removed)
