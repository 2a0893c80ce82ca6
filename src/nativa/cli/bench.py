"""`nativa bench ...`: measurements recorded in docs/benchmarks.md, each side by side in one run."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from nativa.cli._common import err, out, print_json, settings

bench_app = typer.Typer(help="Benchmarks: each compares nativa with a baseline measured in the same run.",
                        no_args_is_help=True)


@bench_app.command("model")
def bench_model(
    models: list[str] = typer.Option(["small", "large"], "--model", "-m", help="Embedded models to measure."),
    runs: int = typer.Option(3, "--runs", min=1, help="Alternating runs per side."),
    max_tokens: int = typer.Option(128, "--max-tokens", min=8),
    batch: str | None = typer.Option(None, "--batch", help=(
        "Instead: n samples of one prompt decoded together for each n (e.g. 1,2,4,8), vs one sample and "
        "vs the host's ceiling for n.")),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Tokens/s and time to first token through nativa vs raw llama-cpp-python, same prompt, same run."""
    from nativa.bench.model import render, run_model_bench

    if batch is not None:
        from nativa.bench import batch as batch_bench

        points = batch_bench.run_batch_bench(settings(), models, batch_bench.parse_batch(batch), runs=runs,
                                             max_tokens=max_tokens,
                                             log=lambda msg: out.print(f"[dim]{msg}[/]") if not json_out else None)
        if json_out:
            print_json([p.to_dict() for p in points])
        else:
            out.print(batch_bench.render(points))
        return

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
    cfg = settings().model_copy(update={"n_ctx": n_ctx})
    chat_model = open_model(model, cfg)
    sandbox = open_sandbox(cfg, pool_size=2)
    problems = he.load_problems(limit)
    path = out_file or Path("bench-results") / f"humaneval-{chat_model.name}-{he.timestamp()}.jsonl"
    agent = CodeAgent(chat_model, sandbox, max_attempts=attempts, max_tokens=cfg.max_tokens, temperature=0.0,
                      settings=cfg)
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

            if system == "nativa":
                results = he.run_nativa(problems, agent, sandbox, attempts=attempts, on_result=tick)
            else:
                from nativa.bench.compare import run_smolagents

                results = run_smolagents(problems, chat_model, sandbox, max_steps=attempts,
                                         max_tokens=cfg.max_tokens, on_result=tick)
        summaries.append(he.summarise(system, chat_model.name, results, attempts, path))
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
