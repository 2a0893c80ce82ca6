"""The interactive review: findings shown on their lines, each answer, and failing closed without a terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from nativa.errors import ReviewUnavailableError
from nativa.review import Policy, ReviewContext
from nativa.review.approvals import Action, Reviewer, ReviewRequest
from nativa.review.terminal import TerminalPrompter

CODE = "import json\nrows = json.loads('[]')\nopen('/etc/report.csv', 'w').write(str(rows))\n"


class FakeTTY(io.StringIO):
    """Typed answers on a stream that says it is a terminal (the pty test covers a real one)."""

    def isatty(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed file")  # as a real closed file does
        return True


def _request(policy: Policy, previous: str | None = None) -> ReviewRequest:
    verdict = policy.check_code(CODE)
    context = ReviewContext(session="s1", previous_code=previous)
    return ReviewRequest("code", CODE, verdict, Action.of(verdict.at_least("medium")), context)


def _prompter(typed: str) -> tuple[TerminalPrompter, io.StringIO]:
    screen = io.StringIO()
    return TerminalPrompter(Console(file=screen, width=120, color_system=None), FakeTTY(typed)), screen


@pytest.mark.parametrize(("typed", "choice", "feedback"), [
    ("a\n", "approve", None), ("s\n", "session", None), ("A\n", "always", None), ("r\n", "reject", None),
    ("e\nuse the work dir instead\n", "reject", "use the work dir instead"),
    ("x\nmaybe\nr\n", "reject", None), ("", "reject", "no answer was given (end of input)"),
])
def test_each_answer(policy: Policy, typed: str, choice: str, feedback: str | None) -> None:
    prompter, _ = _prompter(typed)
    answer = prompter(_request(policy))
    assert (answer.choice, answer.feedback) == (choice, feedback)


def test_the_findings_are_shown_under_their_lines_with_the_diff(policy: Policy) -> None:
    prompter, screen = _prompter("a\n")
    prompter(_request(policy, previous="import json\nrows = json.loads('[]')\nprint(rows)\n"))
    lines = screen.getvalue().splitlines()
    flagged = next(i for i, line in enumerate(lines) if "open('/etc/report.csv'" in line and "|" in line)
    assert lines[flagged].startswith("> 3 |")
    assert "high file-write: open() writes outside the work dir: '/etc/report.csv'" in lines[flagged + 1]
    assert any(line.startswith("  1 | import json") for line in lines)  # unflagged lines are not marked
    assert "-print(rows)" in lines and any(line.startswith("+open(") for line in lines)
    assert any("approving covers: file-write /etc/report.csv" in line for line in lines)
    assert any("[a] approve once" in line and "[e] edit the feedback" in line for line in lines)


@pytest.mark.parametrize("stdin", [io.StringIO("a\n"), None])
def test_without_a_terminal_it_fails_closed(policy: Policy, stdin: io.StringIO | None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a\n"))  # a pipe: typed answers must not be trusted
    prompter = TerminalPrompter(Console(file=io.StringIO()), stdin)
    with pytest.raises(ReviewUnavailableError, match="no terminal to ask .*nothing was run"):
        prompter(_request(policy))
    decision = Reviewer(policy, mode="risky", prompter=prompter).review(CODE)
    assert not decision.approved and decision.status == "unavailable"


def test_a_closed_stdin_is_no_terminal(policy: Policy) -> None:
    closed = FakeTTY()
    closed.close()
    with pytest.raises(ReviewUnavailableError):
        TerminalPrompter(Console(file=io.StringIO()), closed)(_request(policy))
