"""`nativa run QUESTION`: answer a question with tools (SQL, HTTP, Python, MCP), and `nativa bench tools`.

Every grant comes from the user's flags, never from the model: the database (the shipped sample database
when `--db` is omitted) is read-only unless `--allow-writes`; HTTP goes only to `--allow-host` hosts, and to
private or loopback addresses only with `--allow-private`.
"""

from __future__ import annotations

import re
import time
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from nativa.cli._common import err, out, print_json, run_scored, settings
from nativa.cli.models import MODEL_HELP
from nativa.cli.review import REVIEW_HELP

_INTENT_MODES = ("auto", "rules", "off")


def run(
    question: Annotated[str, typer.Argument(help="The question, e.g. 'which region sold most in 2024?'.")],
    db: Annotated[str | None, typer.Option("--db", help="Database URL: sqlite:///file.db, duckdb:///file.duckdb, "
                                           "postgresql://... (default: the shipped sample database).")] = None,
    allow_host: Annotated[list[str] | None, typer.Option("--allow-host", help="A host the HTTP tool may reach "
                                                         "(repeatable): example.com, example.com:8080, "
                                                         "*.example.com.")] = None,
    allow_private: Annotated[bool, typer.Option("--allow-private", help="Let HTTP reach private and loopback "
                                                "addresses of allowed hosts.")] = False,
    allow_writes: Annotated[bool, typer.Option("--allow-writes", help="Let SQL write and HTTP use POST/PUT/"
                                               "PATCH/DELETE.")] = False,
    mcp: Annotated[list[str] | None, typer.Option("--mcp", help="An MCP server whose tools to use: a command "
                                                  "('python -m server') or an http(s) URL (repeatable).")] = None,
    python: Annotated[bool, typer.Option("--python/--no-python", help="Offer the sandboxed Python tool.")] = True,
    intent: Annotated[str, typer.Option("--intent", help="auto: rules, then the model; rules: rules only; "
                                        "off: no intent step.")] = "auto",
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, max=20, help="Tool calls at most.")] = 6,
    model: Annotated[str | None, typer.Option("--model", "-m", help=MODEL_HELP)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print {answer, steps, trace_id, ...} as JSON.")] = False,
    session: Annotated[str | None, typer.Option("--session", help="Keep this run in a session and show the agent "
                                                "what the session already holds (created if new).")] = None,
    review: Annotated[str | None, typer.Option("--review", help=REVIEW_HELP)] = None,
    local_only: Annotated[bool, typer.Option("--local-only", help="Keep this run, and every tool result in it, "
                                             "off remote models (a cascade's openai: stages).")] = False,
) -> None:
    """Answer a question with tools: the model picks a tool, sees the result, and repeats until it answers."""
    from nativa.agent.tool_agent import ToolAgent, ToolStep
    from nativa.cli._runtime import marked_local_only, open_agent_session, open_model, review_gate
    from nativa.data import sample_db_url
    from nativa.errors import BadInputError
    from nativa.intent import IntentParser
    from nativa.review.approvals import check_mode
    from nativa.tools import build_tools, close_tools

    if intent not in _INTENT_MODES:
        raise BadInputError(f"--intent {intent!r} is not valid; valid: {', '.join(_INTENT_MODES)}")
    if not question.strip():
        raise BadInputError("QUESTION is empty; ask something the tools can answer")
    if review is not None:
        check_mode(review)  # a bad --review is refused before the model loads
    cfg = settings()
    chat_model = open_model(model, cfg)
    recorder = open_agent_session(cfg, session, chat_model) if session else None
    local_only = local_only or marked_local_only(recorder)
    tools = build_tools(cfg, db=db or sample_db_url(), allow_hosts=allow_host or [], allow_private=allow_private,
                        allow_writes=allow_writes, python=python, mcp_servers=mcp or [])

    def show(_kind: str, step: ToolStep) -> None:
        args = ", ".join(f"{k}={v!r}" for k, v in step.arguments.items())
        mark = f"[red]error[/]: {escape((step.error or '')[:200])}" if step.error else \
            escape(step.observation.splitlines()[0][:120] if step.observation else "")
        err.print(f"[bold]{escape(step.tool)}[/]({escape(args[:300])}) -> {mark}")

    parser = None if intent == "off" else IntentParser.from_settings(chat_model if intent == "auto" else None, cfg)
    # Anything past the sandbox is a grant: a real database, hosts, writes, an MCP server's tools.
    granted = bool(db or allow_host or allow_writes or mcp)
    try:
        with review_gate(cfg, review, granted=granted, session=session, allow_hosts=allow_host or (),
                         allow_writes=allow_writes, db=db) as gate:
            agent = ToolAgent(chat_model, tools, max_steps=max_steps, settings=cfg, intent_parser=parser,
                              on_event=None if json_out else show, review=gate)
            result = agent.run(recorder.task_text(question) if recorder else question, local_only=local_only)
    finally:
        close_tools(tools)
    if recorder is not None:
        recorder.record("run", question, result.to_dict())
    if json_out:
        print_json(result.to_dict())
    elif result.clarification:
        out.print(escape(result.clarification))
    elif result.answer is not None:
        out.print(escape(result.answer))
        err.print(f"[dim]{len(result.steps)} step(s), {result.wall_s:.1f} s"
                  + (f", trace {result.trace_id}" if result.trace_id else "") + "[/]")
        for e in result.escalations:
            err.print(f"[yellow]escalated[/] {escape(e.from_stage)} -> {escape(e.to)}: {escape(e.detail or e.reason)}")
    else:
        err.print(f"[bold red]no answer[/] ({result.stop_reason}) after {len(result.steps)} step(s)")
        if result.stop_message:
            err.print(f"[bold red]review:[/] {escape(result.stop_message)}")
    if result.answer is None and not result.clarification:
        raise typer.Exit(1)


def bench_tools(
    models: Annotated[list[str] | None, typer.Option("--model", "-m", help="Models to measure (repeatable; "
                                                     "default: small and large; cascade names too).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most N tasks of each kind.")] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="Only these kinds: sql, http.")] = None,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, max=20)] = 6,
    out_file: Annotated[Path | None, typer.Option("--out", help="Per-task JSONL (default: bench-results/...).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summaries as JSON.")] = False,
) -> None:
    """Tool agent accuracy, steps and time per task: SQL questions on the sample database, HTTP on a local API."""
    from nativa import tracing
    from nativa.bench import tools as bench
    from nativa.errors import BadInputError

    kinds = set(only or [])
    if kinds - {"sql", "http"}:
        raise BadInputError(f"--only {', '.join(sorted(kinds - {'sql', 'http'}))} is not a task kind; valid: sql, http")
    cfg = settings()
    tracing.setup(cfg)
    tasks = bench.load_tasks(kinds=kinds or None, limit=limit)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    summaries = []
    for name in models or ["small", "large"]:
        safe = re.sub(r"[^\w.-]+", "_", name)
        path = out_file or Path("bench-results") / f"tools-{safe}-{stamp}.jsonl"
        results = run_scored(name, len(tasks), path, json_out,
                             partial(bench.run_bench, cfg, name, tasks, max_steps=max_steps))
        summaries.append(bench.summarise(results[0].model if results else name, results, path))
    if json_out:
        print_json([s.to_dict() for s in summaries])
        return
    table = Table("model", "tasks", "accuracy", "sql", "http", "escalated", "out tokens", "compute", "wall s",
                  "mean steps", "median s/task", "mean s/task",
                  title=f"Tool agent on {len(tasks)} tasks (per-task results in bench-results/)")
    for s in summaries:
        cells = [f"{s.by_kind[k][0]}/{s.by_kind[k][1]}" if k in s.by_kind else "-" for k in ("sql", "http")]
        table.add_row(s.model, str(s.tasks), f"{s.accuracy:.1%}", *cells, f"{s.escalated_share:.1%}",
                      str(s.total_output_tokens), f"{s.total_compute:.3g}", f"{s.total_wall_s:.0f}",
                      f"{s.mean_steps:.2f}", f"{s.median_s:.1f}", f"{s.mean_s:.1f}")
    out.print(table)
