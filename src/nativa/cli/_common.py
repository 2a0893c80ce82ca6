"""What every CLI command shares: the settings for this invocation, consoles, and JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from nativa.config import Settings, load_settings
from nativa.errors import BadInputError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

_settings: Settings | None = None


def settings() -> Settings:
    """Settings are read once per invocation, at the edge, then passed down."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def reset_settings() -> None:
    """Forget the cached settings, so the next `settings()` reads the environment again (tests do)."""
    global _settings
    _settings = None


def to_jsonable(obj: Any) -> Any:
    """`json.dumps`'s fallback for JSON output: `to_dict` objects, pydantic models, dataclasses, paths."""
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def print_json(obj: Any) -> None:
    """Plain JSON on stdout (no Rich markup), so `| jq` always works."""
    sys.stdout.write(json.dumps(obj, default=to_jsonable, indent=2) + "\n")
    sys.stdout.flush()


def read_json_file(path: Path, what: str) -> Any:
    """A JSON file's contents; an unreadable file or bad JSON is a `BadInputError` naming `what`."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise BadInputError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{what} {path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None


def optional_value(argv: list[str], flag: str) -> list[str]:
    """Let `flag` be given without its value (`--ray` alone means Ray's default cluster): the vendored click
    in Typer has no optional option values, so a bare `flag` becomes `flag=` here. A value is taken as one
    when it looks like an address: `auto`, `local`, `HOST:PORT` or `scheme://...`."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":
            return out + argv[i:]
        if arg == flag:
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            if nxt is None or not (nxt in ("auto", "local") or ":" in nxt):
                out.append(f"{flag}=")
                continue
        out.append(arg)
    return out


def read_source(file: Path, purpose: str = "to run") -> str:
    """A Python source file's text, or one line naming the file and what is wrong with it."""
    if not file.is_file():
        raise BadInputError(f"{file} is not a file: give the path of a Python file {purpose}, e.g. script.py")
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BadInputError(f"{file} is not UTF-8 text: give a Python source file") from None
    except OSError as exc:
        raise BadInputError(f"cannot read {file}: {exc.strerror}") from None


def progress_bar(*, quiet: bool = False) -> Any:
    """The bar every long CLI job shows on stderr: what it is doing, done of total, time so far. `quiet`
    (e.g. --json) turns it off only where stderr is not a terminal: the JSON goes to stdout, and a person
    watching an hour-long `--json > out.json` run still sees how far it is."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, disable=quiet and not err.is_terminal)


def run_scored(name: str, total: int, path: Path, quiet: bool, run: Callable[..., Iterable[Any]]) -> list[Any]:
    """`run(on_result=tick)` with a bar showing the running accuracy, each result (a dataclass with
    `correct`) appended to `path` as it lands, so a stopped bench keeps what it finished."""
    from nativa.bench._stats import write_jsonl

    done: list[Any] = []
    with progress_bar(quiet=quiet) as progress:
        bar = progress.add_task(f"{name}: starting", total=total)

        def tick(r: Any) -> None:
            done.append(r)
            write_jsonl(path, [r])
            rate = sum(x.correct for x in done) / len(done)
            progress.update(bar, advance=1, description=f"{name}: accuracy {rate:.0%}")

        return list(run(on_result=tick))
