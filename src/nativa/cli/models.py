"""`nativa models`, `nativa ask` and `nativa doctor`: what is installed, talk to a model, is this host fit."""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from nativa import __version__
from nativa.cli._common import err, out, print_json, read_json_file, settings
from nativa.cli._runtime import open_model
from nativa.errors import BadInputError
from nativa.models import GenerationOptions, list_models, weights
from nativa.models.base import validate_schema
from nativa.models.traced import traced_complete
from nativa.models.weights import rich_progress

MODEL_HELP = ("small (embedded 0.5B), large (embedded 1.5B, needs the extra nativa\\[large]), openai:<name>, a .gguf "
              "path, or cascade (small, then large when the evidence says so) / cascade:small,large,openai:<name>.")


def models(
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    verify: bool = typer.Option(False, "--verify", help="Assemble missing embedded models and re-hash every file."),
) -> None:
    """List the models nativa can use: name, source, path, size, verified, loaded."""
    if verify:
        _verify_embedded()
    infos = list_models(settings())
    if json_out:
        print_json([i.to_dict() for i in infos])
        return
    table = Table("name", "source", "path", "size", "verified", "loaded")
    for i in infos:
        size = f"{i.size_bytes / 1e6:,.0f} MB" if i.size_bytes else "-"
        table.add_row(i.name, escape(i.source + ("" if i.installed else " (not installed)")), i.path or "-",
                      size, "yes" if i.verified else "no", "yes" if i.loaded else "no")
    out.print(table)
    for i in infos:
        for note in i.notes:
            err.print(f"{i.name}: {escape(note)}")


def _verify_embedded() -> None:
    """Assemble each installed embedded model and check its full sha256 (setup calls this once)."""
    cfg = settings()
    for spec in weights.EMBEDDED.values():
        if not weights.is_installed(spec):
            continue
        update, close = rich_progress(f"{spec.name}: assembling")
        try:
            path = weights.ensure(spec, cfg.models_dir, update)
        finally:
            close()
        update, close = rich_progress(f"{spec.name}: verifying sha256")
        try:
            weights.verify(spec, path, full=True, progress=update)
        finally:
            close()


def ask(
    prompt: str = typer.Argument(..., help="What to ask the model."),
    model: str | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    schema: Path | None = typer.Option(None, "--schema", help="A JSON-schema file; the answer will match it."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", min=1, help="Most tokens to generate."),
    system: str | None = typer.Option(None, "--system", help="A system message."),
    json_out: bool = typer.Option(False, "--json", help="Print the whole Completion as JSON."),
) -> None:
    """Ask a model; the answer streams to the terminal as it is generated."""
    if not prompt.strip():
        raise BadInputError("PROMPT is empty; give the question to ask, e.g. nativa ask \"reverse a string\"")
    cfg = settings()
    json_schema: Any = None
    if schema is not None:
        json_schema = read_json_file(schema, "--schema file")
        validate_schema(json_schema)
    opts = GenerationOptions(max_tokens=max_tokens or cfg.max_tokens, temperature=cfg.temperature,
                             json_schema=json_schema, seed=cfg.seed)
    chat_model = open_model(model, cfg)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    completion = traced_complete(chat_model, messages, opts, settings=cfg, on_text=None if json_out else _echo)
    if json_out:
        print_json(completion.to_dict())
        return
    sys.stdout.write("\n")
    err.print(
        f"[dim]{completion.model}: {completion.input_tokens} in, {completion.output_tokens} out, "
        f"{completion.latency_s:.2f} s, {completion.tokens_per_s:.1f} tok/s, finish={completion.finish_reason}[/]"
    )


def _echo(text: str) -> None:
    """Show the answer as it is generated: a slow model is visibly working, not hung."""
    sys.stdout.write(text)
    sys.stdout.flush()


def doctor(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Check this host: Python, the llama.cpp build, the models and the sandbox tier."""
    report = _doctor_report()
    if json_out:
        print_json(report)
        return
    table = Table("check", "result", show_header=False)
    table.add_row("nativa", report["nativa"])
    table.add_row("python", f"{report['python']['version']} ({report['python']['executable']})")
    table.add_row("platform", report["platform"])
    llama = report["llama_cpp"]
    table.add_row("llama.cpp", escape(f"{llama.get('version', '-')}: {llama.get('system_info', llama.get('error', ''))}"))
    for m in report["models"]:
        state = "verified" if m["verified"] else ("installed" if m["installed"] else "not installed")
        table.add_row(f"model {m['name']}", state + (f", {m['path']}" if m["path"] else ""))
        _reasons(table, m.get("notes", []))
    sb = report["sandbox"]
    table.add_row("sandbox", escape(f"tier {sb.get('tier', '?')}: {', '.join(sb.get('layers', [])) or sb.get('error', '')}"))
    _reasons(table, sb.get("notes", []))
    out.print(table)


def _reasons(table: Table, notes: list[str]) -> None:
    """Why something is missing or weaker, right under it: the fix is usually in the note."""
    for note in notes:
        table.add_row("", escape(f"why: {note}"))


def _doctor_report() -> dict[str, Any]:
    cfg = settings()
    report: dict[str, Any] = {
        "nativa": __version__,
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "platform": platform.platform(),
        "home": str(cfg.home),
    }
    try:
        import llama_cpp

        report["llama_cpp"] = {"version": llama_cpp.__version__,
                               "system_info": llama_cpp.llama_print_system_info().decode().strip(" |")}
    except ImportError as exc:
        report["llama_cpp"] = {"error": f"not installed: {exc}"}
    report["models"] = [i.to_dict() for i in list_models(cfg)]
    report["sandbox"] = _sandbox_report()
    return report


def _sandbox_report() -> dict[str, Any]:
    try:
        from nativa.sandbox import probe
    except ImportError as exc:
        return {"tier": "none", "layers": [], "error": f"sandbox unavailable: {exc}"}
    return probe().to_dict()
