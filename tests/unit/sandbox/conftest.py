"""Unit-level sandbox fixtures: the CLI harness (argument errors never reach a sandbox)."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def invoke() -> Callable[[list[str]], int]:
    """Run `nativa sandbox ARGS` the way `nativa.cli.run` does (NativaError -> its exit code, usage -> 2).

    Through the real `nativa` app when the sandbox commands are registered there, else `sandbox_app` alone.
    """
    import typer

    from nativa import cli
    from nativa.cli.sandbox import sandbox_app

    if any(getattr(g, "name", None) == "sandbox" for g in cli.app.registered_groups):
        return lambda args: cli.run(["sandbox", *args])

    def run(args: list[str]) -> int:
        try:
            rv = typer.main.get_command(sandbox_app).main(args=args, prog_name="nativa sandbox",
                                                          standalone_mode=False)
        except Exception as exc:  # NativaError, click's (or typer's vendored click's) Exit and UsageError
            code = getattr(exc, "exit_code", None)
            if not isinstance(code, int):
                raise
            return code
        return rv if isinstance(rv, int) else 0

    return run

