"""`nativa traces ls | show | stats` and `nativa bench tracing`: read back what runs left, and what tracing
costs.

They read the local JSONL store (`<data_dir>/traces`), so they work offline and with no backend running.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from nativa.cli._common import out, print_json, settings
from nativa.errors import BadInputError

traces_app = typer.Typer(
    help="Read the traces runs left in the local store: list, show one as a waterfall, statistics.",
    no_args_is_help=True,
)

_DIR_HELP = "Trace store directory (default: <NATIVA_HOME>/data/traces)."


def _store_dir(directory: Path | None) -> Path:
    from nativa.tracing import traces_dir

    chosen = directory if directory is not None else traces_dir(settings())
    if directory is not None and not directory.is_dir():
        raise BadInputError(f"--dir {directory}: no such directory; give the folder that holds spans.jsonl")
    return chosen


@traces_app.command("ls")
def ls(
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="How many traces to list, newest first.")
    ] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    directory: Annotated[Path | None, typer.Option("--dir", help=_DIR_HELP)] = None,
) -> None:
    """List traces newest first: id, root span, duration, status, tokens."""
    from nativa.tracing.store import TraceStore
    from nativa.tracing.view import render_trace_list

    summaries = TraceStore(_store_dir(directory)).recent(limit)
    if json_out:
        print_json(summaries)
    elif not summaries:
        out.print("no traces yet: run something (e.g. `nativa ask ...`) with tracing on, then look again")
    else:
        out.print(render_trace_list(summaries))


@traces_app.command("show")
def show(
    trace_id: Annotated[str, typer.Argument(help="Trace id from `nativa traces ls` (or a unique prefix).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the trace's spans as JSON.")] = False,
    directory: Annotated[Path | None, typer.Option("--dir", help=_DIR_HELP)] = None,
) -> None:
    """Show one trace as a tree: a waterfall with durations, tokens and errors per span."""
    from nativa.tracing.store import TraceStore
    from nativa.tracing.view import render_trace

    detail = TraceStore(_store_dir(directory)).get(trace_id)
    if json_out:
        print_json({"summary": detail.summary, "spans": detail.spans})
    else:
        out.print(render_trace(detail, width=out.width), soft_wrap=False)


@traces_app.command("stats")
def stats(
    since: Annotated[
        str | None, typer.Option("--since", help="Only spans started this recently: 30m, 1h, 7d.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    directory: Annotated[Path | None, typer.Option("--dir", help=_DIR_HELP)] = None,
) -> None:
    """p50/p95/p99 latency, tokens and error rate per model and per tool (and per agent, sandbox tier)."""
    from nativa.tracing.store import TraceStore, parse_since
    from nativa.tracing.view import render_stats

    since_s = parse_since(since) if since is not None else None
    report = TraceStore(_store_dir(directory)).stats(since_s)
    if json_out:
        print_json(report)
    else:
        out.print(render_stats(report))


def bench_tracing(
    spans: Annotated[
        int, typer.Option("--spans", min=100, help="Spans per measurement of the cost per span.")
    ] = 20000,
    runs: Annotated[
        int, typer.Option("--runs", min=3, help="Simulated agent runs per side (on, off), alternating.")
    ] = 15,
    model_ms: Annotated[
        int,
        typer.Option(
            "--model-ms", min=1, help="CPU work per simulated model call (a real one takes seconds)."
        ),
    ] = 50,
    agent: Annotated[
        bool,
        typer.Option("--agent", help="Time the real code agent (embedded small model, real sandbox) on vs off."),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Cost per span (µs) and the share of an agent run's wall time spent in tracing, on vs off in one run."""
    from nativa.bench.tracing import render, run_tracing_bench

    agent_run, description = (_real_agent_run() if agent else (None, None))
    result = run_tracing_bench(spans=spans, runs=runs, model_work_s=model_ms / 1000, agent_run=agent_run,
                               agent_description=description)
    if json_out:
        print_json(result)
    else:
        out.print(render(result))


def _real_agent_run() -> tuple[Callable[[], object], str]:
    """The README's demo job: the embedded model repairs `result = x + 5` in the real sandbox."""
    from nativa.agent import CodeAgent
    from nativa.cli._runtime import open_model, open_sandbox

    cfg = settings()
    agent = CodeAgent(open_model("small", cfg), open_sandbox(cfg), max_attempts=3, max_tokens=128)

    def run() -> object:
        result = agent.fix("result = x + 5\nprint(result)")
        if not result.success:
            raise RuntimeError("the benchmark's agent run did not succeed; the timing would not be comparable")
        return result

    return run, "real agent run: CodeAgent.fix of `result = x + 5` (small model, real sandbox, 2 sandbox runs)"
