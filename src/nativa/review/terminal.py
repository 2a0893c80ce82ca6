"""The interactive review in a terminal: the code with its findings on their lines, then a person's answer.

It fails closed: with no terminal on stdin (CI, a pipe, a service) there is nobody to ask, so it raises
`ReviewUnavailableError` and the Reviewer refuses the action; nothing waits on input that cannot come.
"""

from __future__ import annotations

import difflib
import sys
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from nativa.errors import ReviewUnavailableError
from nativa.review.approvals import Answer, Choice, ReviewRequest
from nativa.review.findings import Finding

_STYLE = {"high": "bold red", "medium": "bold yellow", "low": "cyan"}
_CHOICES: dict[str, Choice | None] = {"a": "approve", "s": "session", "A": "always", "r": "reject", "e": None}
MENU = ("[a] approve once   [s] approve for this session   [A] approve always   [r] reject   "
        "[e] edit the feedback and reject")
MAX_TRIES = 5


def render_review(request: ReviewRequest, console: Console, *, diff_lines: int = 40) -> None:
    """Print the code with line numbers, each finding under its line, the diff from the last attempt."""
    findings_by_line: dict[int, list[Finding]] = {}
    for finding in request.verdict.findings:
        findings_by_line.setdefault(finding.line, []).append(finding)
    context = request.context
    console.print(f"[bold]review[/] {escape(request.subject)} in session {escape(context.session)!r}: "
                  f"max risk [{_STYLE.get(request.verdict.max_risk, 'green')}]{request.verdict.max_risk}[/]")
    for finding in findings_by_line.pop(0, []):
        console.print(_finding_line(finding, indent="  "))
    lines = request.code.splitlines() or [""]
    width = len(str(len(lines)))
    for number, text in enumerate(lines, start=1):
        flagged = findings_by_line.pop(number, [])
        style = _STYLE[max(flagged, key=lambda f: ["low", "medium", "high"].index(f.risk)).risk] if flagged else ""
        row = Text(f"{'>' if flagged else ' '} {number:>{width}} | ", style=style or "dim")
        row.append(text, style="reverse " + style if flagged else "")
        console.print(row)
        for finding in flagged:
            console.print(_finding_line(finding, indent=" " * (width + 5)))
    for leftover in findings_by_line.values():  # lines past the end (should not happen): still shown
        for finding in leftover:
            console.print(_finding_line(finding, indent="  "))
    if context.previous_code is not None:
        diff = list(difflib.unified_diff(context.previous_code.splitlines(), request.code.splitlines(),
                                         "previous attempt", "this attempt", lineterm="", n=1))
        if diff:
            console.print("[bold]changes since the previous attempt:[/]")
            for line in diff[:diff_lines]:
                color = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
                console.print(Text(line, style=color))
            if len(diff) > diff_lines:
                console.print(f"[dim]... {len(diff) - diff_lines} more diff lines[/]")
    console.print(f"approving covers: [bold]{escape(request.action.describe())}[/]")


def _finding_line(finding: Finding, indent: str) -> Text:
    text = Text(indent + "^ ", style=_STYLE[finding.risk])
    text.append(f"{finding.risk} {finding.rule}", style=_STYLE[finding.risk])
    text.append(f": {finding.message}")
    return text


class TerminalPrompter:
    """A `Prompter` that asks the person at this terminal; refuses (fails closed) when there is none."""

    def __init__(self, console: Console | None = None, stdin: TextIO | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.stdin = stdin

    def __call__(self, request: ReviewRequest) -> Answer:
        stream = self.stdin if self.stdin is not None else sys.stdin
        if stream is None or not _is_tty(stream):
            raise ReviewUnavailableError(
                f"{request.action.describe()} needs a person's approval, but there is no terminal to ask "
                "(stdin is not a TTY): nothing was run; run it in a terminal to review it")
        render_review(request, self.console)
        for _ in range(MAX_TRIES):
            self.console.print(escape(MENU))
            key = self._read(stream, "your choice: ")
            if key is None:
                return Answer("reject", "no answer was given (end of input)")
            if key in _CHOICES:
                choice = _CHOICES[key]
                if choice is not None:
                    return Answer(choice)
                feedback = self._read(stream, "feedback for the model: ")
                return Answer("reject", feedback or None)
            self.console.print(f"[red]{escape(key)!r} is not a choice[/]")
        return Answer("reject", f"no valid answer after {MAX_TRIES} tries")

    def _read(self, stream: TextIO, prompt: str) -> str | None:
        self.console.print(prompt, end="")
        try:
            line = stream.readline()
        except (OSError, ValueError):  # the terminal went away: no answer, which is a rejection
            return None
        if not line:
            return None
        return line.strip()


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed, or not a real file (a test runner's stand-in)
        return False
