"""`python -m nativa.serve [options]`: the `nativa serve` command without going through the full CLI
(the benchmark starts servers this way, so it measures the server's own start-up)."""

from __future__ import annotations

import sys

import click
import typer

from nativa.cli.serve import serve
from nativa.errors import NativaError


def main() -> int:
    command = typer.main.get_command(_app())
    try:
        command.main(args=sys.argv[1:], prog_name="nativa serve", standalone_mode=False)
    except NativaError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except click.exceptions.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        return 130
    return 0


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(serve)
    return app


if __name__ == "__main__":
    sys.exit(main())
