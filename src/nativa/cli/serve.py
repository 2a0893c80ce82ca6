"""`nativa serve` (the HTTP server) and `nativa bench serve` (its cold start, latency and throughput next to
llama.cpp's own OpenAI-compatible server)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nativa.cli._common import err, out, print_json, settings
from nativa.serve.command import serve

__all__ = ["bench_serve", "serve"]


def bench_serve(
    requests: int = typer.Option(8, "--requests", min=1, help="Requests per client count, at 1 client."),
    clients: Annotated[list[int] | None, typer.Option(
        "--clients", "-c", help="Concurrent client counts (default 1, 4, 16).")] = None,
    max_tokens: int = typer.Option(32, "--max-tokens", min=1, max=512),
    cold_runs: int = typer.Option(2, "--cold-runs", min=0, help="Process starts per cold-start mode."),
    rounds: int = typer.Option(1, "--rounds", min=1, help="Alternating rounds per client count."),
    peer: bool = typer.Option(True, "--peer/--no-peer", help="Also measure llama-cpp-python's server."),
    max_batch: int | None = typer.Option(None, "--max-batch", min=1, max=64,
                                         help="nativa's --max-batch (default: NATIVA_MAX_BATCH, 4)."),
    model: str | None = typer.Option(None, "--model", "-m", help="Embedded model (default: small)."),
    out_file: Annotated[Path | None, typer.Option("--out", help="Also write the JSON result here.")] = None,
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Cold start (lazy vs preload) and warm p50/p99/throughput at 1/4/16 clients vs llama.cpp's server."""
    import json

    from nativa.bench.serve import render, run_serve_bench

    result = run_serve_bench(settings(), model=model, requests=requests, clients=clients or [1, 4, 16], max_tokens=max_tokens,
                             cold_runs=cold_runs, rounds=rounds, peer=peer, max_batch=max_batch,
                             log=None if json_out else (lambda msg: err.print(f"[dim]{msg}[/]")))
    if out_file is not None:
        out_file.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    if json_out:
        print_json(result.to_dict())
    else:
        out.print(render(result))
