"""The long benches' progress bar: on stderr for a person at a terminal even under --json (whose report goes to
stdout), and off under --json where stderr is a log or a pipe."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from nativa.cli import _common


@pytest.mark.parametrize(("terminal", "quiet", "shown"), [(True, True, True), (True, False, True),
                                                          (False, True, False)])
def test_the_bar_shows_where_a_person_can_see_it(monkeypatch: pytest.MonkeyPatch, terminal: bool, quiet: bool,
                                                 shown: bool) -> None:
    sink = io.StringIO()
    monkeypatch.setattr(_common, "err", Console(file=sink, force_terminal=terminal, width=80))
    with _common.progress_bar(quiet=quiet) as progress:
        bar = progress.add_task("humaneval: starting", total=3)
        progress.update(bar, advance=2, description="humaneval: pass@1 50%")
    assert ("pass@1 50%" in sink.getvalue()) is shown
    assert not shown or "2/3" in sink.getvalue()
