"""The agents' side of review: one call before each model-written candidate or tool call runs.

The gate turns the phase-1 `Reviewer`'s `Decision` into the typed `ReviewNote` the results carry, fills in
what the agent knows (the previous attempt's code, for the diff a person sees), and, when a paused run
resumes, hands the person's answer to the review of exactly the code they were shown (`review.later`).

    gate = ReviewGate(reviewer, ReviewContext(session="s1", who="ana"))
    note = gate.code(candidate, previous=last_code)
    note.approved, note.status, note.feedback      # rejected: the feedback is the model's next observation
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from nativa.agent.result import ReviewNote
from nativa.review import ReviewContext
from nativa.review.approvals import Answer, Decision, Reviewer
from nativa.review.later import Answered


def note_of(decision: Decision) -> ReviewNote:
    """The typed record of a decision, as results and checkpoints keep it."""
    return ReviewNote(status=decision.status, approved=decision.approved, reason=decision.reason,
                      max_risk=decision.verdict.max_risk, findings=list(decision.findings),
                      action=decision.action.describe(), scope=decision.scope, who=decision.who,
                      code_hash=decision.verdict.code_hash, audit_seq=decision.audit_seq,
                      feedback=decision.feedback)


class ReviewGate:
    """Reviews each candidate (or tool call) of one run with one reviewer and one review context."""

    def __init__(self, reviewer: Reviewer, context: ReviewContext | None = None) -> None:
        self.reviewer = reviewer
        self.context = context or ReviewContext()

    def answered(self, code_hash: str, answer: Answer) -> ReviewGate:
        """This gate for a resumed run: `answer` goes to the review of the code of `code_hash`, once."""
        prompter = Answered(code_hash, answer, fallback=self.reviewer.prompter)
        return ReviewGate(replace(self.reviewer, prompter=prompter), self.context)

    def code(self, code: str, previous: str | None = None) -> ReviewNote:
        """Review one candidate before it runs (the diff a person sees is against `previous`)."""
        return note_of(self.reviewer.review(code, replace(self.context, previous_code=previous)))

    def tool_call(self, tool: str, arguments: Mapping[str, Any]) -> ReviewNote:
        """Review one tool call before it runs."""
        return note_of(self.reviewer.review_tool_call(tool, arguments, self.context))


def refusal(note: ReviewNote) -> str:
    """What the model reads about a candidate or call the review did not let run."""
    return note.feedback or f"the reviewer rejected this because: {note.reason}"
