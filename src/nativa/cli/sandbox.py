"""`nativa sandbox run FILE.py` and `nativa bench sandbox`: the sandbox from the command line.

`run` gives a file exactly the isolation the agent's code gets, and exits 0 when the code succeeded, 1
when it failed (or was killed), 2 for bad arguments, so it composes in shell scripts and CI.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape

from nativa.cli._common import err, out, print_json, read_source, settings
from nativa.errors import BadInputError

sandbox_app = typer.Typer(help="Run Python in nativa's sandbox: the isolation model-written code gets.",
                          no_args_is_help=True)


@sandbox_app.callback()
def _sandbox() -> None:
    """Run Python in nativa's sandbox: the isolation model-written code gets."""


def _read_stdin(stdin: Path | None) -> bytes | None:
    if stdin is None:
        return None
    if str(stdin) == "-":
        return sys.stdin.buffer.read()
    try:
        return stdin.read_bytes()
    except OSError as exc:
        raise BadInputError(f"cannot read --stdin file {stdin}: {exc.strerror}") from None


@sandbox_app.command("run")
def run_file(
    file: Path = typer.Argument(..., help="The Python file to run (it runs as __main__, named by its file name)."),  # noqa: B008
    timeout: float = typer.Option(10.0, "--timeout", help="Wall-clock limit in seconds."),
    memory_mb: int = typer.Option(512, "--memory-mb", help="Memory limit in MB (address space and cgroup)."),
    max_output_bytes: int = typer.Option(1_000_000, "--max-output-bytes", help="Cap on stdout and on stderr."),
    stdin: Path | None = typer.Option(None, "--stdin", help="File to feed as the code's stdin ('-': this stdin)."),  # noqa: B008
    allow_network: bool = typer.Option(False, "--allow-network", help="Give the code the host's network."),
    allow_weak: bool = typer.Option(False, "--allow-weak",
                                    help="Run even below tier B (also NATIVA_SANDBOX_ALLOW_WEAK=1)."),
    json_out: bool = typer.Option(False, "--json", help="Print the RunResult as JSON."),
) -> None:
    """Run FILE in a fresh sandbox and print its RunResult; exit 0 if the code succeeded, 1 if not."""
    from nativa.sandbox import Sandbox
    from nativa.sandbox.limits import Limits

    if not 0 < timeout <= 86_400:
        raise BadInputError(f"--timeout {timeout:g} is invalid: use a number of seconds > 0, e.g. --timeout 10")
    if memory_mb < 64:
        raise BadInputError(f"--memory-mb {memory_mb} is invalid: use at least 64 (the interpreter needs ~25 MB)")
    if max_output_bytes < 1:
        raise BadInputError(f"--max-output-bytes {max_output_bytes} is invalid: use a positive number of bytes")
    limits = Limits(timeout_s=timeout, memory_mb=memory_mb, max_output_bytes=max_output_bytes)
    code = read_source(file)
    data = _read_stdin(stdin)
    sandbox = Sandbox(allow_weak=allow_weak or settings().sandbox_allow_weak, limits=limits)
    result = sandbox.run(code, stdin=data, allow_network=allow_network, filename=file.name)
    if json_out:
        print_json(result.to_dict())
    else:
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
        sys.stderr.write(result.stderr)
        sys.stderr.flush()
        style = "green" if result.ok else "bold red"
        note = ""
        if result.stdout_truncated or result.stderr_truncated:
            note = " (output truncated)"
        err.print(f"[{style}]{escape(result.summary())}[/]{note} [dim]layers: {', '.join(result.layers)}[/]")
    raise typer.Exit(0 if result.ok else 1)


def bench_sandbox(
    runs: int = typer.Option(20, "--runs", min=3, help="Rounds; each measures all four modes once."),
    allow_weak: bool = typer.Option(False, "--allow-weak", help="Measure even a weak sandbox."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Median start-to-exit of print(1): one-shot, pooled and session sandbox vs a plain subprocess."""
    from nativa.bench.sandbox import render, run_sandbox_bench

    result = run_sandbox_bench(runs, allow_weak=allow_weak or settings().sandbox_allow_weak,
                               log=None if json_out else (lambda msg: err.print(f"[dim]{msg}[/]")))
    if json_out:
        print_json(result.to_dict())
    else:
        out.print(render(result))
