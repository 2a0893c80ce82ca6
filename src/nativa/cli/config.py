"""`nativa config [--json]`: the effective configuration and where each value came from, so "why is it using
that model?" has an answer without reading code (argument, environment, nativa.toml or default)."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from nativa.cli._common import out, print_json
from nativa.config import explain_settings, toml_path


def config(json_out: bool = typer.Option(False, "--json", help="Print the settings as JSON.")) -> None:
    """Show every setting's effective value and its source (default, file, environment); secrets masked."""
    rows = explain_settings()
    if json_out:
        print_json({"file": str(toml_path()), "settings": [r.to_dict() for r in rows]})
        return
    table = Table("setting", "value", "source", "variable", title=f"nativa configuration (file: {toml_path()})")
    for r in rows:
        table.add_row(r.name, escape("" if r.value is None else str(r.value)), r.source, r.env)
    out.print(table)
