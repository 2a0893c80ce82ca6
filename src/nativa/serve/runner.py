"""Running the app with uvicorn: in the foreground for `nativa serve`, or on a thread for tests and embedding.

uvicorn's own graceful shutdown (stop accepting, wait `graceful_timeout_s` for open requests, then cancel
them) runs before the app's lifespan shutdown, which then stops whatever model work is left and flushes
traces; so Ctrl-C or SIGTERM never leaves a half-written trace file or a model thread decoding for nobody.

Hostile clients are bounded here too: at most `max_connections` open connections (uvicorn's
`limit_concurrency`: requests beyond get 503), each request head within `header_timeout_s`
(`protocol.GuardedH11Protocol`), and every request task starts from an empty context (uvicorn's
`reset_contextvars`, where this uvicorn has it), so nothing one request set leaks into the next.
"""

from __future__ import annotations

import inspect
import logging
import os
import socket
import threading
import time
from typing import Any, Self

import uvicorn
from fastapi import FastAPI

from nativa.config import Settings
from nativa.serve.app import CONFIG_ENV, create_app
from nativa.serve.config import ServeConfig
from nativa.serve.protocol import IMPORT_PATH


def _guards(config: ServeConfig) -> dict[str, Any]:
    """uvicorn options that bound what clients can hold: connections, head time, leaked context."""
    options: dict[str, Any] = {"http": IMPORT_PATH, "limit_concurrency": config.max_connections,
                               "timeout_keep_alive": config.head_deadline_s}
    if "reset_contextvars" in inspect.signature(uvicorn.Config).parameters:
        options["reset_contextvars"] = True
    return options


def _uvicorn_config(app: Any, config: ServeConfig, log_level: str, **extra: Any) -> uvicorn.Config:
    return uvicorn.Config(app, host=config.host, port=config.port, log_level=log_level,
                          timeout_graceful_shutdown=config.graceful_timeout_s or None,
                          proxy_headers=False, server_header=False, **_guards(config), **extra)


def serve(settings: Settings, config: ServeConfig, *, log_level: str = "info") -> None:
    """Run until interrupted. One process by default; `workers > 1` starts that many, each with its own
    model and queue (memory and cores multiply: worth it only with cores to spare)."""
    config.check_binding()
    if not logging.getLogger("nativa").handlers:
        logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if config.workers > 1:
        os.environ[CONFIG_ENV] = config.to_env_json()
        uvicorn.run("nativa.serve.app:create_app_from_env", factory=True, workers=config.workers,
                    host=config.host, port=config.port, log_level=log_level,
                    timeout_graceful_shutdown=config.graceful_timeout_s or None, server_header=False,
                    **_guards(config))
        return
    app = create_app(settings, config=config)
    uvicorn.Server(_uvicorn_config(app, config, log_level)).run()


def free_port(host: str = "127.0.0.1") -> int:
    """A port on `host` that was free a moment ago, for a server started right after."""
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class ServerThread:
    """A real uvicorn server on a thread (loopback): `with ServerThread(app) as server: server.url`."""

    def __init__(self, app: FastAPI, *, host: str = "127.0.0.1", port: int | None = None,
                 graceful_timeout_s: float = 5.0, log_level: str = "warning") -> None:
        self.host = host
        self.port = port or free_port(host)
        served = getattr(getattr(app, "state", None), "nativa", None)  # an app from create_app: its limits
        base = served.config if served is not None else ServeConfig()
        cfg = base.model_copy(update={"host": host, "port": self.port, "graceful_timeout_s": graceful_timeout_s})
        self.server = uvicorn.Server(_uvicorn_config(app, cfg, log_level))
        self.thread = threading.Thread(target=self.server.run, name="nativa-serve", daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL, `http://host:port`."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> Self:
        """Start the server; returns once it is up, `RuntimeError` if it dies or is not up in `timeout_s`."""
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server thread exited during start-up (see the log above)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start within {timeout_s} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask uvicorn to exit and wait up to `timeout_s` for its thread to end."""
        self.server.should_exit = True
        self.thread.join(timeout_s)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
