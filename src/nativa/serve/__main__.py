"""`python -m nativa.serve [options]`: the `nativa serve` command without going through the full CLI
(the benchmark starts servers this way, so it measures the server's own start-up)."""

from __future__ import annotations

import sys

import typer

from nativa.errors import run_entry
from nativa.serve.command import serve


def main() -> int:
    """`nativa serve` with this process's arguments; its exit code, errors as one line, never a traceback."""
    return run_entry(typer.main.get_command(_app()), sys.argv[1:], "nativa serve")


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(serve)
    return app


if __name__ == "__main__":
    sys.exit(main())
