"""`nativa batch TASKS.jsonl`: many tasks on several workers (local processes, or Ray actors with `--ray`),
each result line written as its task completes, so a re-run with the same `--out` resumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from nativa.cli._common import err, print_json, progress_bar, settings
from nativa.cli.models import MODEL_HELP
from nativa.scale import RAY_HELP


def batch(
    tasks: Annotated[Path, typer.Argument(help="JSONL, one task a line: {\"id\", \"kind\": \"code\"|\"run\", "
                                          "\"task\", \"tests\"?, \"session\"?}.")],
    out_file: Annotated[Path | None, typer.Option("--out", help="Append result lines here (default: stdout); "
                                                  "ids already in it are skipped.")] = None,
    ray: Annotated[str | None, typer.Option("--ray", metavar="[ADDRESS]", help=RAY_HELP)] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, max=1024,
                                         help="Workers, each with its own model and sandbox.")] = 1,
    model: Annotated[str | None, typer.Option("--model", "-m", help=MODEL_HELP)] = None,
    max_attempts: Annotated[int, typer.Option("--max-attempts", min=1, max=20, help="Per code task.")] = 3,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, max=20, help="Per run task.")] = 6,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds each sandboxed run may take.")] = 10.0,
    db: Annotated[str | None, typer.Option("--db", help="Database run tasks query, read-only (default: the "
                                           "shipped sample database).")] = None,
    cpus_per_worker: Annotated[float | None, typer.Option(
        "--cpus-per-worker", min=0.1, help="With --ray: CPUs Ray reserves per actor, and its model's threads "
        "(default 1).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout (needs --out).")] = False,
) -> None:
    """Run a JSONL file of tasks; each result line holds the task's id, result and the worker that ran it."""

    from nativa import scale
    from nativa.errors import BadInputError

    if json_out and out_file is None:
        raise BadInputError("--json prints the summary on stdout, where results go without --out; add --out FILE")
    if cpus_per_worker is not None and ray is None:
        raise BadInputError("--cpus-per-worker is a Ray option; add --ray")
    found = scale.read_tasks(tasks)
    for bad in found.bad:
        err.print(f"[yellow]skipped[/] {escape(str(tasks))} {escape(str(bad))}")
    cfg = settings()
    spec = scale.WorkerSpec(model=model or cfg.model, max_attempts=max_attempts, max_steps=max_steps,
                            timeout_s=timeout, db=db)
    log = scale.ResultLog(out_file)
    finished = log.finished_ids()
    todo = sum(1 for t in found.tasks if t.id not in finished)
    backend = scale.make_backend(spec, use_ray=ray is not None, ray_address=ray or None, workers=workers,
                                 cpus_per_worker=cpus_per_worker)
    with progress_bar() as progress:
        bar = progress.add_task(f"{backend.name}: starting {workers} worker(s)", total=todo)
        failed = 0

        def tick(outcome: scale.TaskOutcome) -> None:
            nonlocal failed
            failed += 0 if outcome.ok else 1
            progress.update(bar, advance=1, description=f"{backend.name}: {failed} error(s)")

        report = scale.run_batch(found, log, backend, workers=workers, on_done=tick)
    stats = report.stats
    summary = {"tasks": report.tasks, "done": report.done, "errors": report.failed, "skipped": report.skipped,
               "bad_lines": [str(b) for b in report.bad_lines], "backend": backend.name, "workers": workers,
               "tasks_per_minute": round(report.tasks_per_minute, 2),
               "steady_tasks_per_minute": round(report.steady_per_minute, 2),
               "retried": stats.retried if stats else 0, "worker_deaths": stats.deaths if stats else 0,
               "first_worker_ready_s": stats.first_ready_s if stats else None,
               "wall_s": stats.wall_s if stats else 0.0, "out": str(out_file) if out_file else None}
    if json_out:
        print_json(summary)
    else:
        err.print(f"{report.done} done ({report.failed} error(s)), {report.skipped} already in the output, "
                  f"{len(report.bad_lines)} bad line(s); {summary['tasks_per_minute']} tasks/min on {workers} "
                  f"{backend.name} worker(s)" + (f", {summary['retried']} retried after a worker died"
                                                 if summary["retried"] else ""))
        if out_file is not None:
            err.print(f"results: {escape(str(out_file))}")
    if report.failed:
        raise typer.Exit(1)
    if report.bad_lines:
        raise typer.Exit(2)



def bench_batch(
    tasks: Annotated[int, typer.Option("--tasks", min=0, help="Code tasks per run (real model).")] = 8,
    noop: Annotated[int, typer.Option("--noop", min=0, help="No-op tasks: the batch path's own cost.")] = 200,
    workers: Annotated[list[int] | None, typer.Option("--workers", "-w", help="Worker counts (default 1, 2).")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help=MODEL_HELP)] = None,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Alternating rounds (quote medians).")] = 1,
    out_file: Annotated[Path | None, typer.Option("--out", help="Also write the JSON result here.")] = None,
) -> None:
    """Batch throughput: local processes vs Ray actors, 1 vs N workers, and each backend's cost per task."""
    from nativa.bench.scale import run_batch_bench

    cfg = settings()
    result = run_batch_bench(cfg, model=model or cfg.model, tasks=tasks, noop=noop, workers=workers or [1, 2], rounds=rounds,
                             log=lambda msg: err.print(f"[dim]{escape(msg)}[/]"))
    if out_file is not None:
        out_file.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    print_json(result.to_dict())


def bench_ray_serve(
    model: Annotated[str | None, typer.Option("--model", "-m", help=MODEL_HELP)] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, max=512)] = 16,
    requests: Annotated[int, typer.Option("--requests", min=1, help="Chat requests per client count.")] = 12,
    clients: Annotated[list[int] | None, typer.Option("--clients", "-c", help="Default 1, 4.")] = None,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Alternating rounds.")] = 2,
    cold: Annotated[list[str] | None, typer.Option("--cold", help="Models whose cold start from zero replicas "
                                                   "to measure (default: the served one).")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Also write the JSON result here.")] = None,
) -> None:
    """Plain `nativa serve` vs the same app on Ray Serve: req/s, p50/p95, Ray's added latency, cold starts."""
    from nativa.bench.scale import run_ray_serve_bench

    cfg = settings()
    name = model or cfg.model
    result = run_ray_serve_bench(cfg, model=name, max_tokens=max_tokens, requests=requests,
                                 clients=clients or [1, 4], rounds=rounds, cold_models=cold or [name],
                                 log=lambda msg: err.print(f"[dim]{escape(msg)}[/]"))
    if out_file is not None:
        out_file.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    print_json(result.to_dict())
