"""Review test doubles: a prompter that answers from a script, and a sandbox that remembers what it ran."""

from __future__ import annotations

import threading
from typing import Any

from nativa.review.approvals import Answer, ReviewRequest


class ScriptedPrompter:
    """Answers review questions from a list (what a person at a terminal would type) and keeps each question."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.asked: list[ReviewRequest] = []

    def __call__(self, request: ReviewRequest) -> Answer:
        self.asked.append(request)
        if not self.answers:
            raise AssertionError(f"the reviewer was asked once more than scripted, about:\n{request.code}")
        return self.answers.pop(0)


class RecordingSandbox:
    """Wraps a sandbox and records every candidate it was handed (the harness's `solution.py`)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seen: list[str] = []
        self._lock = threading.Lock()

    @property
    def runs(self) -> int:
        return len(self.seen)

    def ran(self, fragment: str) -> int:
        """How many runs had `fragment` in their candidate."""
        return sum(fragment in code for code in self.seen)

    def run(self, code: str, *, files: dict[str, Any] | None = None, **kw: Any) -> Any:
        with self._lock:
            self.seen.append(str((files or {}).get("solution.py", code)))
        return self.inner.run(code, files=files, **kw)
