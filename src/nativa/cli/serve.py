"""`nativa serve` (the HTTP server) and `nativa bench serve` (its cold start, latency and throughput next to
llama.cpp's own OpenAI-compatible server)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from nativa.cli._common import err, out, print_json, settings


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback needs --api-key."),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="Model(s) to serve (default: the configured one).")] = None,
    preload: bool = typer.Option(False, "--preload", help="Load the model before accepting requests."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="NATIVA_API_KEY", show_envvar=True,
                                       help="Bearer key clients must send (required off loopback)."),
    max_queue: int | None = typer.Option(None, "--max-queue", min=0, help="Requests that may wait (default 16)."),
    concurrency: int | None = typer.Option(None, "--concurrency", min=1,
                                           help="Model jobs at once per model (default 1)."),
    max_batch: int | None = typer.Option(None, "--max-batch", min=1, max=64, help=(
        "Chat requests an embedded model decodes together, one sequence each per step (default 4, "
        "NATIVA_MAX_BATCH; 1: one at a time).")),
    timeout: float | None = typer.Option(None, "--timeout", min=0.1, help="Seconds per request (default 300)."),
    max_body_bytes: int | None = typer.Option(None, "--max-body-bytes", min=1024, help="Default 1 MiB."),
    cors_origin: Annotated[list[str] | None, typer.Option(
        "--cors-origin", help="Allow browser calls from this origin (CORS is off by default).")] = None,
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="Processes; each loads its own model and has its own queue."),
    graceful_timeout: float = typer.Option(30.0, "--graceful-timeout", min=0,
                                           help="Seconds open requests get to finish on shutdown."),
    run_db: str | None = typer.Option(None, "--run-db", help="Database the /v1/run SQL tool reads (read-only)."),
    run_allow_host: Annotated[list[str] | None, typer.Option(
        "--run-allow-host", help="Host /v1/run's HTTP tool may reach.")] = None,
    log_level: str = typer.Option("info", "--log-level", help="critical, error, warning, info, debug."),
) -> None:
    """Serve the model over HTTP: OpenAI-compatible /v1/chat/completions, /v1/code, /v1/run, /metrics."""
    from nativa.serve.config import load_serve_config
    from nativa.serve.runner import serve as run_server

    cfg = settings()
    if max_batch is not None:
        cfg = cfg.model_copy(update={"max_batch": max_batch})
        os.environ["NATIVA_MAX_BATCH"] = str(max_batch)  # what `--workers` processes read their settings from
    config = load_serve_config(
        cfg, host=host, port=port, models=model or None, preload=preload or None, api_key=api_key,
        max_queue=max_queue, concurrency=concurrency, request_timeout_s=timeout, max_body_bytes=max_body_bytes,
        cors_origins=cors_origin or None, workers=workers, graceful_timeout_s=graceful_timeout, run_db=run_db,
        run_allow_hosts=run_allow_host or None)
    config.check_binding()
    models = ", ".join(config.served_models(cfg))
    err.print(f"nativa serving {models} on http://{config.host}:{config.port} "
              f"({'preloading' if config.preload else 'model loads on first request'}; "
              f"auth {'on' if config.key else 'off (loopback only)'}; queue {config.max_queue}; "
              f"batch {cfg.max_batch})")
    run_server(cfg, config, log_level=log_level)


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
