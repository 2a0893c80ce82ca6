"""The `nativa` command line: one Typer app whose sub-commands live beside this file, one per concept.

`main()` is the console-script entry point. It turns every `NativaError` into one clear line and the right
exit code (2 for bad input, 1 for failures) instead of a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from nativa import __version__
from nativa.cli._common import err, optional_value
from nativa.cli.batch import batch, bench_batch, bench_ray_serve
from nativa.cli.bench import bench_app
from nativa.cli.chat import chat
from nativa.cli.code import code
from nativa.cli.config import config
from nativa.cli.intent import bench_intent
from nativa.cli.mcp import mcp
from nativa.cli.memory import bench_memory, memory_app
from nativa.cli.models import ask, doctor, models
from nativa.cli.review import bench_review, review_app
from nativa.cli.run import bench_tools
from nativa.cli.run import run as run_command
from nativa.cli.sandbox import bench_sandbox, sandbox_app
from nativa.cli.serve import bench_serve, serve
from nativa.cli.traces import bench_tracing, traces_app
from nativa.cli.ui import ui
from nativa.errors import run_entry

app = typer.Typer(
    name="nativa",
    help="nativa: a local model writes Python, a sandbox runs it, the model repairs it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nativa {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """nativa: a local model writes Python, a sandbox runs it, the model repairs it."""


app.command("models")(models)
app.command("ask")(ask)
app.command("doctor")(doctor)
app.command("config")(config)
app.command("code")(code)
app.command("batch")(batch)
app.add_typer(bench_app, name="bench")
app.add_typer(traces_app, name="traces")
app.add_typer(sandbox_app, name="sandbox")
bench_app.command("sandbox")(bench_sandbox)
app.command("serve")(serve)
app.command("ui")(ui)
bench_app.command("serve")(bench_serve)
app.command("run")(run_command)
app.command("mcp")(mcp)
bench_app.command("tools")(bench_tools)
bench_app.command("intent")(bench_intent)
bench_app.command("tracing")(bench_tracing)
bench_app.command("batch")(bench_batch)
bench_app.command("ray-serve")(bench_ray_serve)
app.add_typer(review_app, name="review")
bench_app.command("review")(bench_review)
app.command("chat")(chat)
app.add_typer(memory_app, name="memory")
bench_app.command("memory")(bench_memory)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; tests call this instead of spawning a process."""
    command = typer.main.get_command(app)
    argv = optional_value(list(sys.argv[1:] if argv is None else argv), "--ray")
    return run_entry(command, argv, "nativa", report=_report)


def _report(line: str) -> None:
    head, _, rest = line.partition(": ")
    if head == "error" and rest:
        err.print(f"[bold red]error:[/] {escape(rest)}")
    else:
        err.print(escape(line))


def main() -> None:
    """The `nativa` console script: run the CLI on this process's arguments and exit with its code."""
    sys.exit(run())
