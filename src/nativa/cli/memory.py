"""`nativa memory add|search|forget|list|sessions`: look into what nativa remembers, and make it forget.

`forget` compacts the store afterwards, so what it removed is gone from the file's bytes (or, on
PostgreSQL, from the table files), not merely unlinked.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from nativa.cli._common import err, out, print_json, settings

memory_app = typer.Typer(help="Sessions and long-term memories: inspect, add, search, forget.",
                         no_args_is_help=True)

Namespace = Annotated[str, typer.Option("--namespace", "-n", help="Memory namespace.")]
SessionOpt = Annotated[str | None, typer.Option("--session", "-s", help="Only this session's memories.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _open() -> Any:
    from nativa.cli._runtime import open_memory_store

    return open_memory_store(settings())


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def _meta(pairs: list[str] | None) -> dict[str, str]:
    from nativa.errors import BadInputError

    meta = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInputError(f"--meta {pair!r} is not KEY=VALUE")
        meta[key.strip()] = value
    return meta


@memory_app.command("add")
def add(
    text: Annotated[str, typer.Argument(help="What to remember.")],
    namespace: Namespace = "default",
    session: Annotated[str | None, typer.Option("--session", "-s", help="Tie it to a session (forgotten with it; "
                                                "created if new).")] = None,
    ttl: Annotated[float | None, typer.Option("--ttl", min=0.001, help="Forget after this many seconds.")] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="KEY=VALUE metadata (repeatable).")] = None,
    json_out: Json = False,
) -> None:
    """Remember a piece of text for later recall by meaning."""
    memory = _open()
    if session is not None:
        memory.session(session, create=True)
    item = memory.remember(text, namespace=namespace, session=session, metadata=_meta(meta), ttl_s=ttl)
    if json_out:
        print_json(item.to_dict())
    else:
        out.print(f"remembered #{item.id} in {escape(namespace)}")


@memory_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What to look for (by meaning, not by words).")],
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="How many results.")] = 5,
    namespace: Namespace = "default",
    session: SessionOpt = None,
    min_score: Annotated[float | None, typer.Option("--min-score", min=-1.0, max=1.0)] = None,
    json_out: Json = False,
) -> None:
    """The memories closest in meaning to QUERY, best first, with their cosine scores."""
    hits = _open().recall(query, k=k, namespace=namespace, session=session, min_score=min_score)
    if json_out:
        print_json([h.to_dict() for h in hits])
        return
    table = Table("score", "id", "text", "session", "when", title=f"{len(hits)} memories for {query!r}")
    for h in hits:
        table.add_row(f"{h.score:.3f}", str(h.item.id), escape(h.item.text[:120]), escape(h.item.session or "-"),
                      _when(h.item.created_at))
    out.print(table)


@memory_app.command("list")
def list_(
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Only this namespace.")] = None,
    session: SessionOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 50,
    json_out: Json = False,
) -> None:
    """The newest memories first."""
    items = _open().list_memories(namespace=namespace, session=session, limit=limit)
    if json_out:
        print_json([i.to_dict() for i in items])
        return
    table = Table("id", "namespace", "text", "session", "when", "expires", title=f"{len(items)} memories")
    for i in items:
        table.add_row(str(i.id), escape(i.namespace), escape(i.text[:120]), escape(i.session or "-"),
                      _when(i.created_at), _when(i.expires_at) if i.expires_at else "-")
    out.print(table)


@memory_app.command("forget")
def forget(
    id: Annotated[int | None, typer.Argument(help="The memory's id (see `nativa memory list`).")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Everything in this namespace.")] = None,
    session: Annotated[str | None, typer.Option("--session", "-s", help="This session and everything derived "
                                                "from it: messages, runs, summaries, memories.")] = None,
    older_than: Annotated[str | None, typer.Option("--older-than", help="Memories older than 30m, 12h, 7d, ...")]
    = None,
    json_out: Json = False,
) -> None:
    """Delete memories (and with --session, a whole session), then compact the store."""
    from nativa.errors import BadInputError
    from nativa.tracing.store import parse_since

    age = None
    if older_than is not None:
        try:
            age = parse_since(older_than)
        except BadInputError:
            raise BadInputError(f"--older-than {older_than!r} is not a duration; use e.g. 30m, 12h, 7d") from None
    memory = _open()
    removed = memory.forget(id, namespace=namespace, session=session, older_than_s=age)
    memory.compact()
    if json_out:
        print_json({"removed": removed, "compacted": True})
    else:
        out.print(f"forgot {removed} record(s); {escape(memory.location)} compacted")


@memory_app.command("sessions")
def sessions(
    name: Annotated[str | None, typer.Argument(help="Show this session's messages and runs.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000, help="Messages shown at most.")] = 50,
    json_out: Json = False,
) -> None:
    """List sessions, or show one session's messages and agent runs."""
    memory = _open()
    if name is None:
        found = memory.list_sessions()
        if json_out:
            print_json([s.to_dict() for s in found])
            return
        table = Table("session", "messages", "created", "updated", title=f"{len(found)} sessions in {memory.location}")
        for s in found:
            table.add_row(escape(s.name), str(s.message_count), _when(s.created_at), _when(s.updated_at))
        out.print(table)
        return
    session = memory.session(name)
    messages = memory.messages(session, limit=limit)
    runs = memory.runs(session)
    if json_out:
        print_json({**session.to_dict(), "messages": [m.to_dict() for m in messages],
                    "runs": [r.to_dict() for r in runs]})
        return
    err.print(f"[bold]{escape(session.name)}[/]: {session.message_count} messages, {len(runs)} runs")
    for m in messages:
        out.print(f"[bold]{m.role}[/] [dim]{_when(m.created_at)}[/] {escape(m.content)}")
    for r in runs:
        verdict = "solved" if r.result.get("success") or r.result.get("answer") else "not solved"
        out.print(f"[dim]run #{r.id} {r.kind}: {escape(r.task[:100])} -> {verdict}[/]")
