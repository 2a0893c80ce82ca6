"""The console: a browser view of runs, attempts, traces, memory and approvals, served at `/ui`.

Server-rendered pages (Jinja2, autoescaped), a stylesheet and one small script shipped in the package:
no CDN, no build step, usable offline. `install(app)` mounts it on the server `create_app` builds, unless
the server listens beyond loopback without an API key, in which case there is no console at all.
"""

from __future__ import annotations

from fastapi import FastAPI

from nativa.serve.config import is_loopback
from nativa.serve.errors import CONSOLE_ATTR


def install(app: FastAPI) -> bool:
    """Mount the console's pages and static files; False (nothing mounted) when it would be open to the
    network: bound off loopback with no key."""
    config = app.state.nativa.config
    if not config.key and not is_loopback(config.host):
        return False
    from starlette.staticfiles import StaticFiles

    from nativa.serve.console import routes_login, routes_memory, routes_review, routes_runs, sources
    from nativa.serve.console.paused import ServerPendingRuns

    for module in (routes_login, routes_runs, routes_memory, routes_review):
        app.include_router(module.router, include_in_schema=False)
    setattr(app.state, sources.PENDING_ATTR, ServerPendingRuns())  # approvals: the HTTP pause/approve store
    app.mount("/ui/static", StaticFiles(packages=[("nativa.serve.console", "static")]), name="console-static")
    setattr(app.state, CONSOLE_ATTR, True)  # errors under /ui are error pages from here on
    return True
