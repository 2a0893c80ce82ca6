"""The `nativa serve` command (its flags and what it starts), owned by the server so `python -m nativa.serve`
runs the very same command without importing the CLI; `nativa serve` registers this function as is."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from nativa.config import load_settings
from nativa.scale import RAY_HELP

if TYPE_CHECKING:
    from nativa.serve.config import ServeConfig

err = Console(stderr=True, highlight=False, soft_wrap=True)


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
    header_timeout: float | None = typer.Option(
        None, "--header-timeout", min=0.1, help="Seconds to send a request's headers, and to sit idle between "
        "requests; then 408 and the connection is closed (default 10)."),
    body_timeout: float | None = typer.Option(
        None, "--body-timeout", min=0.1, help="Seconds to send a request's body; then 408 and close (default 20)."),
    max_connections: int | None = typer.Option(
        None, "--max-connections", min=1, help="Open connections at once; requests beyond get 503 (default 128)."),
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
    ray: str | None = typer.Option(None, "--ray", metavar="[ADDRESS]", help=RAY_HELP),
    min_replicas: int = typer.Option(1, "--min-replicas", min=0, help="With --ray: replicas kept up (0: scale "
                                     "to zero)."),
    max_replicas: int = typer.Option(1, "--max-replicas", min=1, help="With --ray: replicas at most."),
    target_ongoing: float = typer.Option(2.0, "--target-ongoing-requests", min=0.1,
                                         help="With --ray: requests per replica the autoscaler aims at."),
    route_prefix: str = typer.Option("/", "--route-prefix", help="With --ray: serve under this path (e.g. "
                                     "/large: clients use http://HOST:PORT/large/v1), one deployment per prefix."),
) -> None:
    """Serve the model over HTTP: OpenAI-compatible /v1/chat/completions, /v1/code, /v1/run, /metrics."""
    from nativa.serve.config import load_serve_config
    from nativa.serve.runner import serve as run_server

    cfg = load_settings()
    if max_batch is not None:
        cfg = cfg.model_copy(update={"max_batch": max_batch})
        os.environ["NATIVA_MAX_BATCH"] = str(max_batch)  # what `--workers` processes read their settings from
    config = load_serve_config(
        cfg, host=host, port=port, models=model or None, preload=preload or None, api_key=api_key,
        max_queue=max_queue, concurrency=concurrency, request_timeout_s=timeout, max_body_bytes=max_body_bytes,
        header_timeout_s=header_timeout, body_timeout_s=body_timeout, max_connections=max_connections,
        cors_origins=cors_origin or None, workers=workers, graceful_timeout_s=graceful_timeout, run_db=run_db,
        run_allow_hosts=run_allow_host or None)
    config.check_binding()
    if ray is not None:
        _serve_on_ray(config, ray or None, min_replicas=min_replicas, max_replicas=max_replicas,
                      target_ongoing=target_ongoing, route_prefix=route_prefix)
        return
    models = ", ".join(config.served_models(cfg))
    err.print(f"nativa serving {models} on http://{config.host}:{config.port} "
              f"({'preloading' if config.preload else 'model loads on first request'}; "
              f"auth {'on' if config.key else 'off (loopback only)'}; queue {config.max_queue}; "
              f"batch {cfg.max_batch})")
    run_server(cfg, config, log_level=log_level)


def _serve_on_ray(config: ServeConfig, address: str | None, *, min_replicas: int, max_replicas: int,
                  target_ongoing: float, route_prefix: str) -> None:
    """The same app as a Ray Serve deployment; each replica builds it with its own settings and model."""
    import functools
    import time

    from pydantic import ValidationError

    from nativa.errors import BadInputError
    from nativa.scale.serving import Replicas, deploy, undeploy
    from nativa.serve.app import create_app

    try:
        replicas = Replicas(min_replicas=min_replicas, max_replicas=max_replicas,
                            target_ongoing_requests=target_ongoing,
                            max_ongoing_requests=config.concurrency + max(1, config.max_queue))
    except ValidationError as exc:
        raise BadInputError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None
    if not route_prefix.startswith("/") or (route_prefix != "/" and route_prefix.endswith("/")):
        raise BadInputError(f"--route-prefix {route_prefix!r} must start with / and not end with one, e.g. /large")
    models = ", ".join(config.served_models(load_settings()))
    err.print(f"deploying nativa ({models}) on Ray Serve, {min_replicas}..{max_replicas} replica(s)...")
    ready_s = deploy(functools.partial(create_app, None, config=config.model_copy(update={"workers": 1})),
                     replicas, host=config.host, port=config.port, address=address, route_prefix=route_prefix)
    url = f"http://{config.host}:{config.port}{route_prefix.rstrip('/')}"
    err.print(f"nativa serving {models} on {url} through Ray Serve "
              f"(up in {ready_s:.1f} s; auth {'on' if config.key else 'off (loopback only)'}); Ctrl-C stops it")
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        err.print("stopping the Ray Serve deployment")
    finally:
        undeploy(route_prefix)
