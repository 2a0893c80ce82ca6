"""`nativa ui`: the browser console on this machine: a server on 127.0.0.1, and the browser opened on it.

The same server as `nativa serve` (the HTTP API answers beside the console), always on loopback: a console
for other machines is `nativa serve --host ... --api-key ...` and its `/ui`.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Annotated

import typer

from nativa.cli._common import err, settings
from nativa.errors import BadInputError

HOST = "127.0.0.1"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _open_when_up(url: str, port: int, timeout_s: float = 60.0) -> None:
    """Open the browser once the server accepts connections (model loading does not delay it)."""
    import webbrowser

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        return
    if not webbrowser.open(url):
        err.print(f"no browser could be opened here; open {url} yourself")


def ui(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0: a free one).")] = 8000,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="Model(s) to serve (default: the "
                                                    "configured one).")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="NATIVA_API_KEY", show_envvar=True,
                                                help="Ask for this key before showing anything.")] = None,
    open_browser: Annotated[bool, typer.Option("--open/--no-open", help="Open the browser on the console.")] = True,
    log_level: Annotated[str, typer.Option("--log-level", help="critical, error, warning, info, debug.")] = "warning",
) -> None:
    """Start a local server on 127.0.0.1 and open its console (runs, traces, memory, approvals) in the browser."""
    from nativa.serve.config import load_serve_config
    from nativa.serve.runner import free_port
    from nativa.serve.runner import serve as run_server

    cfg = settings()
    chosen = port or free_port(HOST)
    if not _port_free(chosen):
        raise BadInputError(f"--port {chosen}: that port on {HOST} is in use (another nativa serve?); "
                            "pass another --port, or 0 for a free one")
    config = load_serve_config(cfg, host=HOST, port=chosen, models=model or None, api_key=api_key)
    url = f"http://{HOST}:{chosen}/ui"
    err.print(f"nativa console on {url} (auth {'on: sign in with the API key' if config.key else 'off, loopback only'}); "
              "Ctrl-C stops it")
    if open_browser:
        threading.Thread(target=_open_when_up, args=(url, chosen), name="nativa-ui-open", daemon=True).start()
    run_server(cfg, config, log_level=log_level)
