"""`nativa bench ...`: measurements recorded in docs/benchmarks.md, each side by side in one run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from nativa.cli._common import err, out, print_json, settings
from nativa.cli.batch import RAY_HELP

if TYPE_CHECKING:
    from nativa.bench.humaneval import ProblemResult

bench_app = typer.Typer(help="Benchmarks: each compares nativa with a baseline measured in the same run.",
                        no_args_is_help=True)


@bench_app.command("model")
def bench_model(
    models: list[str] = typer.Option(["small", "large"], "--model", "-m", help="Embedded models to measure."),
    runs: int = typer.Option(3, "--runs", min=1, help="Alternating runs per side."),
    max_tokens: int = typer.Option(128, "--max-tokens", min=8),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Tokens/s and time to first token through nativa vs raw llama-cpp-python, same prompt, same run."""
    from nativa.bench.model import render, run_model_bench

    results = run_model_bench(settings(), models, runs=runs, max_tokens=max_tokens,
                              log=lambda msg: out.print(f"[dim]{msg}[/]") if not json_out else None)
    if json_out:
        print_json([r.to_dict() for r in results])
    else:
        out.print(render(results))


@bench_app.command("humaneval")
def bench_humaneval(
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N problems."),
    attempts: int = typer.Option(3, "--attempts", min=1, max=10, help="Agent attempts per problem (K)."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model to use (default: small)."),
    compare: list[str] = typer.Option([], "--compare", help="Also run a peer on the same problems: smolagents."),
    out_file: Path | None = typer.Option(None, "--out", help="Per-problem JSONL (default: bench-results/...)."),
    n_ctx: int = typer.Option(8192, "--n-ctx", min=2048, help="Context size for all systems (peers need room)."),
    json_out: bool = typer.Option(False, "--json", help="Print the summaries as JSON."),
    ray: str | None = typer.Option(None, "--ray", metavar="[ADDRESS]", help=RAY_HELP),
    workers: int = typer.Option(1, "--workers", "-w", min=1, max=1024,
                                help="With --ray: actors, each with its own model and sandbox."),
) -> None:
    """pass@1 after attempt 1..K on HumanEval; hidden tests run in the sandbox only for scoring."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from nativa.agent import CodeAgent
    from nativa.bench import humaneval as he
    from nativa.cli._runtime import open_model, open_sandbox
    from nativa.errors import BadInputError

    unknown = set(compare) - {"smolagents"}
    if unknown:
        raise BadInputError(f"--compare {', '.join(sorted(unknown))} is not supported; valid: smolagents")
    if ray is not None and compare:
        raise BadInputError("--compare runs on this machine only; drop --ray or --compare")
    cfg = settings().model_copy(update={"n_ctx": n_ctx})
    if ray is None:
        chat_model = open_model(model, cfg)
        sandbox = open_sandbox(cfg, pool_size=2)
        agent = CodeAgent(chat_model, sandbox, max_attempts=attempts, max_tokens=cfg.max_tokens, temperature=0.0,
                          settings=cfg)
    model_name = chat_model.name if ray is None else (model or cfg.model)
    problems = he.load_problems(limit)
    path = out_file or Path("bench-results") / f"humaneval-{model_name}-{he.timestamp()}.jsonl"
    summaries = []
    systems = ["nativa"] + list(compare)
    for system in systems:
        done: list[he.ProblemResult] = []
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, disable=json_out) as progress:
            task = progress.add_task(f"{system}: starting", total=len(problems))

            def tick(r: he.ProblemResult) -> None:
                done.append(r)
                he.write_jsonl(path, [r])
                rate = sum(x.passed_after[-1] for x in done) / len(done)
                progress.update(task, advance=1, description=f"{system}: pass@1 {rate:.1%}")

            if system == "nativa" and ray is not None:
                results = _humaneval_on_ray(ray or None, problems, model_name, cfg.max_tokens, n_ctx, attempts,
                                            workers, tick)
            elif system == "nativa":
                results = he.run_nativa(problems, agent, sandbox, attempts=attempts, on_result=tick)
            else:
                from nativa.bench.compare import run_smolagents

                results = run_smolagents(problems, chat_model, sandbox, max_steps=attempts,
                                         max_tokens=cfg.max_tokens, on_result=tick)
        summaries.append(he.summarise(system, model_name, results, attempts, path))
    if json_out:
        print_json([s.to_dict() for s in summaries])
        return
    table = Table("system", "model", "problems", *[f"pass@1 after {k + 1}" for k in range(attempts)],
                  "mean out tokens", "median s/problem", "agent overhead",
                  title=f"HumanEval ({len(problems)} problems), per-problem results in {path}")
    for s in summaries:
        table.add_row(s.system, s.model, str(s.problems), *[f"{p:.1%}" for p in s.pass_at_1_after],
                      f"{s.mean_output_tokens:.0f}", f"{s.median_wall_s:.1f}", f"{s.overhead_fraction:.2%}")
    out.print(table)


def _humaneval_on_ray(address: str | None, problems: list[dict[str, Any]], model: str, max_tokens: int,
                      n_ctx: int, attempts: int, workers: int,
                      tick: Callable[[ProblemResult], None]) -> list[ProblemResult]:
    """The same per-problem unit (`solve_problem`) on Ray actors, each loading the model once."""
    from nativa.scale import WorkerSpec, make_backend
    from nativa.scale.batch import run_humaneval

    spec = WorkerSpec(model=model, settings={"n_ctx": n_ctx, "max_tokens": max_tokens}, pool_size=2)
    backend = make_backend(spec, use_ray=True, ray_address=address, workers=workers)
    return run_humaneval(backend, problems, attempts=attempts, workers=workers, on_result=tick)
