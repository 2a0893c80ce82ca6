"""The server as a Ray Serve deployment: the same FastAPI app (same routes, same OpenAI-compatible API, same
auth, same queue per replica) built inside each replica, autoscaled on ongoing requests.

The app arrives as a builder (a picklable zero-argument callable, such as
`functools.partial(nativa.serve.app.create_app, None, config=config)`) evaluated on the replica, so this
module never imports the server package, and each replica loads its own model and reads its own settings
on its own node. Ray Serve runs the app's lifespan, so `--preload` and the graceful shutdown work as
under uvicorn.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nativa.scale.ray_backend import connect

APP_NAME = "nativa"
# Ray Serve's latency knobs for a Ray that nativa starts (set before it starts; a running cluster keeps its
# own: set them on `ray start`): the app on the replica's own event loop (its blocking work already runs on
# its executor), request-path logs buffered, no separate router loop. Measured on the project machine, the
# proxy hop on /healthz went from ~12 ms to ~9 ms at p50 (docs/benchmarks.md, issue 18).
SERVE_ENV = {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0", "RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1000",
             "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0", "RAY_SERVE_LOG_TO_STDERR": "0"}
AppBuilder = Callable[[], Any]  # returns an ASGI app


class Replicas(BaseModel):
    """Autoscaling of the deployment: `min_replicas` 0 lets it scale to zero (the next request pays a cold
    start), `target_ongoing_requests` is the load per replica Ray Serve scales towards."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_replicas: int = Field(1, ge=0, le=1000)
    max_replicas: int = Field(1, ge=1, le=1000)
    target_ongoing_requests: float = Field(2.0, gt=0)
    cpus_per_replica: float = Field(1.0, gt=0)
    max_ongoing_requests: int = Field(17, ge=1, description="Per replica; the app's own queue answers 429 past it.")

    @model_validator(mode="after")
    def _ordered(self) -> Replicas:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"--min-replicas {self.min_replicas} is above --max-replicas {self.max_replicas}")
        return self


class NativaReplica:
    """One replica: holds the builder, and Ray Serve asks it for the ASGI app after construction."""

    def __init__(self, builder: AppBuilder) -> None:
        self._builder = builder

    def __serve_build_asgi_app__(self) -> Any:
        return self._builder()


def application(builder: AppBuilder, replicas: Replicas) -> Any:
    """The Ray Serve application (not yet running) for `builder`'s app."""
    from ray import serve

    ingress = serve.ingress()(NativaReplica)
    deployment = serve.deployment(
        ingress, name="nativa", max_ongoing_requests=replicas.max_ongoing_requests,
        ray_actor_options={"num_cpus": replicas.cpus_per_replica},
        autoscaling_config={"min_replicas": replicas.min_replicas, "max_replicas": replicas.max_replicas,
                            "initial_replicas": replicas.min_replicas,
                            "target_ongoing_requests": replicas.target_ongoing_requests})
    return deployment.bind(builder)


def app_name(route_prefix: str) -> str:
    """One Ray Serve application per route prefix (`nativa` at `/`, `nativa-large` at `/large`), so a cascade's
    models can be deployed, scaled and removed separately behind the cluster's one HTTP port."""
    tail = route_prefix.strip("/").replace("/", "-")
    return f"{APP_NAME}-{tail}" if tail else APP_NAME


def deploy(builder: AppBuilder, replicas: Replicas, *, host: str, port: int, address: str | None = None,
           route_prefix: str = "/") -> float:
    """Start Serve's HTTP proxy on `host:port` (a cluster has one: a running Serve keeps its own) and run the
    app at `route_prefix`; returns the seconds until its first replica was up (the deployment's cold start,
    model loading included when the app preloads; near zero with `min_replicas` 0)."""
    for name, value in SERVE_ENV.items():  # inherited by the Ray processes started below; the user's win
        os.environ.setdefault(name, value)
    connect(address)
    from ray import serve

    start = time.perf_counter()
    serve.start(http_options={"host": host, "port": port})
    serve.run(application(builder, replicas), name=app_name(route_prefix), route_prefix=route_prefix)
    return time.perf_counter() - start


def undeploy(route_prefix: str = "/") -> None:
    """Remove this app from the cluster; stop Serve (its proxy and controller) when no other app is left."""
    from ray import serve

    serve.delete(app_name(route_prefix))
    if not serve.status().applications:
        serve.shutdown()
