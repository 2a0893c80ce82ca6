"""Answers that come later: over HTTP nobody waits at a terminal, so a review that needs a person pauses.

`Deferring` is the prompter of a server: it answers "defer", the decision is `pending`, and the agent
stops with a checkpoint (nothing ran). When a person approves or rejects the paused run, the agent
resumes from that checkpoint with `Answered`: it gives the person's answer to the review of exactly the
code they were shown (matched by its hash, once) and defers every other review again.

    reviewer = Reviewer(policy, mode="risky", prompter=Deferring(), ...)             # the first request
    reviewer = replace(reviewer, prompter=Answered(code_hash, Answer("approve", who="ops")))  # the resume
"""

from __future__ import annotations

import threading

from nativa.review.approvals import Answer, Prompter, ReviewRequest


class Deferring:
    """A `Prompter` for a server: nobody can answer now, so every question is deferred to later."""

    def __call__(self, request: ReviewRequest) -> Answer:
        return Answer("defer")


class Answered:
    """The answer a person gave to one paused review: used for the code of `code_hash`, once.

    Any other review (a later candidate, another action) goes to `fallback` (deferred by default), so an
    approval never covers code the person was not shown.
    """

    def __init__(self, code_hash: str, answer: Answer, fallback: Prompter | None = None) -> None:
        self.code_hash = code_hash
        self.answer = answer
        self.fallback: Prompter = fallback if fallback is not None else Deferring()
        self._used = False
        self._lock = threading.Lock()

    @property
    def used(self) -> bool:
        """True once the answer was given (the approved code was reviewed again and may run)."""
        return self._used

    def __call__(self, request: ReviewRequest) -> Answer:
        with self._lock:
            if not self._used and request.verdict.code_hash == self.code_hash:
                self._used = True
                return self.answer
        return self.fallback(request)
