"""The HTTP server: `create_app(settings)` builds the FastAPI app that `nativa serve` runs with uvicorn.

    from nativa.serve import create_app
    app = create_app(settings)                                   # the embedded model, lazily loaded
    app = create_app(settings, model_factory=lambda name: ScriptedModel([...]))   # tests

Routes: `POST /v1/chat/completions` (OpenAI-compatible), `GET /v1/models`, `POST /v1/code`, `POST /v1/run`,
`GET /v1/runs[/{id}]`, `POST /v1/runs/{id}/approve|reject`, `GET /healthz`, `GET /readyz`, `GET /metrics`, and
the browser console at `/ui`. Models load on first use (or at start with `preload`), once per process; a
bounded gate sits in front of each; every request is one trace whose id comes back in `x-trace-id` and in
JSON bodies as `trace_id`.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.middleware.cors import CORSMiddleware

from nativa import __version__, tracing
from nativa.config import Settings, load_settings
from nativa.models.registry import resolve_model
from nativa.serve import agents, chat, console, memory, runs
from nativa.serve.config import ServeConfig, load_serve_config
from nativa.serve.errors import install_handlers, log
from nativa.serve.inputs import check_text
from nativa.serve.metrics import ServerMetrics
from nativa.serve.middleware import BodyLimitMiddleware, RequestMiddleware
from nativa.serve.queue import Gate
from nativa.serve.schemas import ErrorBody, Health, ModelReadiness, Ready, StageReadiness
from nativa.serve.slots import ModelFactory, ModelSlot
from nativa.serve.state import SandboxFactory, ServerState, check_key, get_state

CONFIG_ENV = "NATIVA_SERVE_CONFIG_JSON"  # how `nativa serve --workers N` hands its options to each process
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text} for status, text in (
        (400, "unreadable body or invalid value"), (401, "missing or wrong API key"),
        (404, "unknown model (the body lists the served ones)"), (413, "body too large"),
        (422, "a field has the wrong type or value; `param` names it"), (429, "queue full; see Retry-After"),
        (503, "shutting down, or the sandbox is unavailable"), (504, "the request passed its timeout"))}


def create_app(settings: Settings | None = None, *, config: ServeConfig | None = None,
               model_factory: ModelFactory | None = None, sandbox_factory: SandboxFactory | None = None,
               setup_tracing: bool = True) -> FastAPI:
    """Build the app; nothing heavy happens here (no model load, no sandbox probe) unless `preload`."""
    settings = settings if settings is not None else load_settings()
    config = config if config is not None else load_serve_config(settings)
    if setup_tracing:
        tracing.setup(settings)
    metrics = ServerMetrics()
    factory = model_factory or (lambda name: resolve_model(name, settings))
    slots: dict[str, ModelSlot] = {}
    for name in config.served_models(settings):
        gate = Gate(config.concurrency, config.max_queue, name)
        slots[name] = ModelSlot(name, factory, gate, on_load=metrics.model_loaded)
        metrics.watch_queue(name, lambda g=gate: g.running, lambda g=gate: g.waiting)
    executor = ThreadPoolExecutor(max_workers=config.concurrency * len(slots), thread_name_prefix="nativa-model")
    state = ServerState(settings=settings, config=config, slots=slots, executor=executor, metrics=metrics,
                        sandbox_factory=sandbox_factory or _default_sandbox(settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if config.preload:
            await preload(state)
        yield
        await shutdown(state)

    app = FastAPI(title="nativa", version=__version__, lifespan=lifespan, responses=_ERRORS,
                  description="Local-first model server: OpenAI-compatible chat, the code agent, the tool agent.",
                  **_no_native_telemetry())
    app.state.nativa = state
    guarded = [Depends(check_key), Depends(check_text)]
    app.include_router(chat.router, dependencies=guarded)
    app.include_router(agents.router, dependencies=guarded)
    app.include_router(memory.router, dependencies=guarded)  # /v1/sessions, /v1/memories
    app.include_router(runs.router, dependencies=guarded)  # /v1/runs: paused for approval, approve, reject
    _health_routes(app, guarded)
    console.install(app)  # /ui: the browser console (not mounted off loopback without a key)
    install_handlers(app, list(slots))
    routes = {p for p in app.openapi()["paths"]} | {app.docs_url or "", app.openapi_url or ""}
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes, body_timeout_s=config.body_deadline_s)
    app.add_middleware(RequestMiddleware, metrics=metrics, routes=routes)
    if config.cors_origins:  # off by default: browsers on other origins get no access
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["authorization", "content-type"], expose_headers=["x-trace-id"])
    return app


def _no_native_telemetry() -> dict[str, Any]:
    """Recent FastAPI traces every request itself; nativa's middleware already opens the request's span
    (with the trace id header, metrics and fault handling), so a second server span would only double it."""
    if "telemetry" in inspect.signature(FastAPI).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


def _health_routes(app: FastAPI, guarded: list[Any]) -> None:
    @app.get("/healthz", response_model=Health, summary="The process is up")
    async def healthz() -> Health:
        return Health()

    @app.get("/readyz", response_model=Ready, summary="Every served model is loaded or loadable",
             responses={503: {"model": Ready}})
    async def readyz(request: Request) -> Any:
        state = get_state(request)
        loop = asyncio.get_running_loop()
        found = [await loop.run_in_executor(None, slot.readiness) for slot in state.slots.values()]
        models = [ModelReadiness(name=r.name, loaded=r.loaded, loadable=r.loadable, detail=r.detail,
                                 load_s=r.load_s,
                                 stages=None if r.stages is None else [StageReadiness(**asdict(st)) for st in r.stages])
                  for r in found]
        ok = all(m.loadable for m in models) and not any(s.gate.closed for s in state.slots.values())
        body = Ready(status="ready" if ok else "unavailable", models=models)
        dumped = body.model_dump()
        for served in dumped["models"]:  # `stages` only for a cascade: a plain model's entry keeps its shape
            if served["stages"] is None:
                del served["stages"]
        return JSONResponse(dumped, status_code=200 if ok else 503)

    @app.get("/metrics", summary="Prometheus metrics", dependencies=guarded,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def metrics(request: Request) -> Response:
        state = get_state(request)
        body = await asyncio.get_running_loop().run_in_executor(None, state.metrics.render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


async def preload(state: ServerState) -> None:
    """Load every served model before the server accepts connections (`--preload`)."""
    loop = asyncio.get_running_loop()
    with tracing.span("nativa.serve.preload"):
        for slot in state.slots.values():
            context = contextvars.copy_context()
            await loop.run_in_executor(state.executor, context.run, slot.get)
            log.info("model %s loaded in %.2f s", slot.name, slot.load_s or 0.0)


async def shutdown(state: ServerState, *, timeout_s: float | None = None) -> None:
    """Refuse new work, give running jobs time to end, then stop the rest between tokens and flush traces.

    uvicorn has already waited (`--graceful-timeout`) for open requests; a job still running here belongs
    to a request that was cut off, so it is cancelled rather than left decoding for nobody.
    """
    wait_s = timeout_s if timeout_s is not None else min(10.0, state.config.graceful_timeout_s)
    for slot in state.slots.values():
        slot.gate.close()
    idle = all([await slot.gate.wait_idle(wait_s) for slot in state.slots.values()])
    if not idle:
        for control in list(state.controls):
            control.cancel("shutdown")
        for slot in state.slots.values():
            await slot.gate.wait_idle(5.0)
    state.executor.shutdown(wait=False, cancel_futures=True)
    close = getattr(state._sandbox, "close", None)
    if callable(close):  # pre-started sandboxes are processes of ours: stop them
        await asyncio.get_running_loop().run_in_executor(None, close)
    await asyncio.get_running_loop().run_in_executor(None, tracing.force_flush, 5.0)


def _default_sandbox(settings: Settings) -> SandboxFactory:
    def make() -> Any:
        from nativa.sandbox import Sandbox

        return Sandbox(allow_weak=settings.sandbox_allow_weak, pool_size=1)  # a warm interpreter per run

    return make


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (several worker processes): options arrive as JSON in the env."""
    settings = load_settings()
    raw = settings.serve_config_json.get_secret_value() if settings.serve_config_json else None
    config = ServeConfig.model_validate(json.loads(raw)) if raw else load_serve_config(settings)
    return create_app(settings, config=config)
