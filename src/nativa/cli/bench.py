"""`nativa bench ...`: measurements recorded in docs/benchmarks.md, each side by side in one run."""

from __future__ import annotations

from typing import Optional

import typer

from nativa.cli._common import out, print_json, settings

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
