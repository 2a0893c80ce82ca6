"""Pages: sessions and their messages, a search over vector memory with scores, and forget with a
confirmation step. Forgetting goes the CLI's way (`Memory.forget`, then `Memory.compact`), so what goes is
gone from the store's file bytes, not merely hidden."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from nativa.errors import BadInputError
from nativa.serve.console import sources
from nativa.serve.console.auth import is_number
from nativa.serve.console.runs import stored_row
from nativa.serve.console.views import page, show, submit

router = APIRouter()
MAX_QUERY = 2000


def _k(raw: str | None) -> int:
    if raw in (None, ""):
        return 10
    if not is_number(raw, 3) or not 1 <= int(raw) <= 100:
        raise BadInputError(f"k {raw!r} is not valid: give a whole number from 1 to 100")
    return int(raw)


def _memory_id(raw: str) -> int:
    if not is_number(raw, 19) or not 1 <= int(raw) < 2**63:
        raise BadInputError(f"memory id {raw!r} is not valid: ids are positive whole numbers")
    return int(raw)


@router.get("/ui/memory")
def memory_home(request: Request, q: str | None = None, namespace: str | None = None,
                k: str | None = None) -> Response:
    """Sessions, recent memories and, with `q`, the memories closest in meaning to it."""
    def build() -> Response:
        memory = sources.memory(request)
        chosen = (namespace or "default").strip() or "default"
        hits = None
        if q is not None and q.strip():
            if len(q) > MAX_QUERY:
                raise BadInputError(f"q: the search text has {len(q)} characters; at most {MAX_QUERY}")
            hits = memory.recall(q, k=_k(k), namespace=chosen)
        return page(request, "memory.html", sessions=memory.list_sessions(limit=500), query=q or "",
                    namespace=chosen, k=_k(k), hits=hits, recent=memory.list_memories(limit=50))

    return show(request, build)


@router.get("/ui/memory/sessions/{name}")
def session_page(request: Request, name: str) -> Response:
    """One session: its messages, its agent runs (newest first) and its memories."""
    def build() -> Response:
        memory = sources.memory(request)
        session = memory.session(name)
        runs = [stored_row(r, session) for r in memory.runs(session)]
        return page(request, "session.html", session=session, messages=memory.messages(session, limit=500),
                    runs=list(reversed(runs)), memories=memory.list_memories(session=session, limit=100))

    return show(request, build)


@router.get("/ui/memory/forget/{memory_id}")
def forget_confirm(request: Request, memory_id: str) -> Response:
    """The page that asks before a memory is forgotten; 404 when there is none with this id."""
    def build() -> Response:
        wanted = _memory_id(memory_id)
        memory = sources.memory(request)
        # the stores look memories up by meaning or by filter, not by id: scan the newest (a namespace holds
        # at most NATIVA_MEMORY_MAX_ITEMS, 100,000 by default)
        item = next((m for m in memory.list_memories(limit=100_000) if m.id == wanted), None)
        if item is None:
            from nativa.errors import MemoryNotFoundError

            raise MemoryNotFoundError(f"no memory with id {wanted}; the memory page lists them")
        return page(request, "forget.html", item=item, session=None, removed=None)

    return show(request, build)


@router.post("/ui/memory/forget/{memory_id}")
def forget(request: Request, memory_id: str, csrf: str | None = Form(None)) -> Response:
    """Forget one memory and compact the store, so the text leaves the file too."""
    def build() -> Response:
        memory = sources.memory(request)
        removed = memory.forget(_memory_id(memory_id))
        memory.compact()  # as `nativa memory forget`: the text leaves the file, not just the index
        return page(request, "forget.html", item=None, session=None, removed=removed, location=memory.location)

    return submit(request, csrf, build)


@router.get("/ui/memory/sessions/{name}/forget")
def forget_session_confirm(request: Request, name: str) -> Response:
    """The page that asks before a whole session is forgotten."""
    def build() -> Response:
        memory = sources.memory(request)
        return page(request, "forget.html", item=None, session=memory.session(name), removed=None)

    return show(request, build)


@router.post("/ui/memory/sessions/{name}/forget")
def forget_session(request: Request, name: str, csrf: str | None = Form(None)) -> Response:
    """Forget the session with everything derived from it, and compact the store."""
    def build() -> Response:
        memory = sources.memory(request)
        removed = memory.forget(session=memory.session(name))
        memory.compact()
        return page(request, "forget.html", item=None, session=None, removed=removed, location=memory.location)

    return submit(request, csrf, build)
