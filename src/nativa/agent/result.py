"""Typed results of an agent run: every attempt, what it cost, and how the run ended."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from nativa.models.cost import Cost
from nativa.review.findings import Finding

Strategy = Literal["given", "generate", "repair", "regenerate"]
VerifiedBy = Literal["user_tests", "task_examples", "generated_tests", "ran_only"]
# rejected: the review did not let it run (a person said no, or nobody could be asked)
Outcome = Literal["passed", "failed", "no_code", "model_error", "rejected"]
# review_unavailable: a candidate needed a person and none could be asked (fail closed);
# awaiting_approval: paused until a person answers (HTTP), `pending` says for what
StopReason = Literal["passed", "max_attempts", "repeated_error", "model_error", "review_unavailable",
                     "awaiting_approval"]
_UNCHECKED = 1 << 20  # rank of code that failed before its checks could tell how close it was
_NO_CODE = 1 << 30


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(slots=True)
class ReviewNote:
    """What the review said of a candidate or a tool call before it could run (`nativa.review`'s Decision)."""

    status: str  # not_needed | covered | approved | rejected | unavailable | pending
    approved: bool
    reason: str
    max_risk: str = "none"
    findings: list[Finding] = field(default_factory=list)
    action: str = ""  # what an approval covers, in words: "network api.example.com"
    scope: str | None = None
    who: str = "local"
    code_hash: str = ""
    audit_seq: int | None = None
    feedback: str | None = None  # for the model, on a rejection: "the reviewer rejected this because ..."

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReviewNote:
        """A note from its `asdict` form (a paused run's checkpoint); unknown keys are dropped, so older
        checkpoints still load."""
        kept = _known(cls, data)
        kept["findings"] = [Finding.from_dict(f) for f in data.get("findings") or []]
        return cls(**kept)


@dataclass(slots=True)
class AwaitingApproval:
    """Why a run paused: the code (or tool call) a person must answer for, and where the run stopped.

    `checkpoint` is what the agent needs to go on (JSON, never pickled); it is not part of `to_dict`."""

    code: str
    review: ReviewNote
    at: int  # the attempt (code agent) or step (tool agent) it paused in
    checkpoint: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """What the caller is shown of the pause; the checkpoint stays out (it is for the agent alone)."""
        return {"code": self.code, "review": asdict(self.review), "at": self.at}


@dataclass(slots=True)
class Escalation:
    """One hand-over in a cascade: from which stage to which, and the evidence that made it (`reason`)."""

    from_stage: str
    to: str
    reason: str  # checks_failed | not_verified | no_code | run_failed | tool_error | ungrounded | ...
    detail: str = ""  # the evidence in words ("2 of 3 checks failed"), never sensitive text

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.from_stage, "to": self.to, "reason": self.reason, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Escalation:
        return cls(str(data.get("from", "")), str(data.get("to", "")), str(data.get("reason", "")),
                   str(data.get("detail", "")))


@dataclass(slots=True)
class Candidate:
    """One candidate an attempt drew and what the evidence said of it."""

    code: str | None
    outcome: Outcome
    passed_tests: int = 0  # of every kind: the caller's, the task's examples, generated ones
    failed_tests: int = 0
    score: int = 0  # agreement with the other candidates and the generated tests (CodeT)
    error_type: str | None = None
    error_message: str | None = None
    output_tokens: int = 0
    review: ReviewNote | None = None  # with a reviewer: what it said before this candidate could run

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        """A candidate from its `asdict` form; unknown keys are dropped, so older checkpoints still load."""
        kept = _known(cls, data)
        kept["review"] = ReviewNote.from_dict(data["review"]) if data.get("review") else None
        return cls(**kept)


@dataclass(slots=True)
class Attempt:
    """One round of the loop: the code it kept, why it failed, and what it cost, so the next prompt and the user
    see the same observation.
    """

    number: int
    strategy: Strategy
    code: str | None
    outcome: Outcome = "failed"
    error_type: str | None = None
    error_message: str | None = None
    observation: str | None = None
    killed_by: str | None = None
    stdout: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    model_s: float = 0.0
    sandbox_s: float = 0.0
    duration_s: float = 0.0
    failed_checks: int | None = None  # checks or tests missed, when the code ran far enough to be checked
    candidates: list[Candidate] = field(default_factory=list)  # every candidate this attempt drew, best first
    kept_code: str | None = None  # the code the agent held after this attempt (the best of all so far)
    drafts: int = 0  # answers the model gave in this attempt (with or without code)
    wrote_tests: str | None = None  # checks the model wrote during this attempt, for a task with none
    model: str = ""  # the model (a cascade's stage) that wrote this attempt's candidates

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attempt:
        """An attempt from its `asdict` form (a paused run's checkpoint, a stored result); unknown keys are
        dropped, so older checkpoints still load."""
        kept = _known(cls, data)
        kept["candidates"] = [Candidate.from_dict(c) for c in data.get("candidates") or []]
        return cls(**kept)

    @property
    def rank(self) -> int:
        """Lower is closer to done: passed, then fewer failed checks, then code that did not get that far."""
        if self.outcome == "passed":
            return 0
        if self.code is None:
            return _NO_CODE
        return self.failed_checks if self.failed_checks is not None else _UNCHECKED

    @property
    def error_signature(self) -> tuple[str | None, str | None] | None:
        """What counts as 'the same error' for the repeat rule."""
        if self.outcome == "passed":
            return None
        return (self.error_type or self.outcome, (self.error_message or "")[:300])


def best_attempt(attempts: list[Attempt]) -> Attempt | None:
    """The attempt whose code the agent keeps: the fewest failed checks, and among equals the earliest (a
    sampled attempt must do strictly better than the greedy one to replace it). Failures that say nothing
    about the checks keep the latest code, which had the most feedback. The caller's own code in `fix` is
    kept only when the model produced none."""
    candidates = [a for a in attempts if a.code is not None and a.strategy != "given"]
    if not candidates:
        candidates = [a for a in attempts if a.code is not None]
    return min(candidates, key=lambda a: (a.rank, a.number if a.rank < _UNCHECKED else -a.number), default=None)


@dataclass(slots=True)
class AgentResult:
    """What one agent run did and what its answer rests on: callers (CLI, server, benches, memory) read the
    outcome here instead of re-deriving it from the trace, and `verified_by` keeps a "success" honest about
    its evidence.
    """

    success: bool
    code: str | None
    task: str | None
    attempts: list[Attempt] = field(default_factory=list)
    stop_reason: StopReason = "max_attempts"
    trace_id: str | None = None
    checks: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    verified_by: VerifiedBy | None = None  # which evidence the success (or the best try) rests on
    verification: str = ""  # the same in words: "passed 3 generated checks", "ran without error, not verified"
    stdout: str = ""  # what the kept code printed when it last ran
    tests: str | None = None  # the caller's tests, shown to the model in every attempt
    generated_tests: str | None = None  # the checks the model wrote for a task that came with none
    stop_message: str | None = None  # why it stopped, in words, when that is not the code (a review)
    pending: AwaitingApproval | None = None  # stop_reason "awaiting_approval": what a person must answer
    cost: Cost | None = None  # per stage of the model chain (one for a single model) and in total
    escalations: list[Escalation] = field(default_factory=list)  # a cascade's hand-overs, in order
    answered_by: str | None = None  # the model (a cascade's stage) whose work the result holds

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentResult:
        """A result from its `to_dict` (a paused run's progress so far); `pending` is not restored."""
        kept = _known(cls, data)
        kept["attempts"] = [Attempt.from_dict(a) for a in data.get("attempts") or []]
        kept["pending"] = None
        kept["cost"] = Cost.from_dict(data.get("cost"))
        kept["escalations"] = [Escalation.from_dict(e) for e in data.get("escalations") or []]
        return cls(**kept)

    @property
    def input_tokens(self) -> int:
        """Prompt tokens over all attempts: what the run cost the model, for budgets and benchmarks."""
        return sum(a.input_tokens for a in self.attempts)

    @property
    def output_tokens(self) -> int:
        """Generated tokens over all attempts."""
        return sum(a.output_tokens for a in self.attempts)

    @property
    def model_s(self) -> float:
        """Seconds spent in the model over all attempts, to tell a slow model from a slow sandbox."""
        return sum(a.model_s for a in self.attempts)

    @property
    def sandbox_s(self) -> float:
        """Seconds spent running candidates in the sandbox over all attempts."""
        return sum(a.sandbox_s for a in self.attempts)

    @property
    def overhead_s(self) -> float:
        """Wall time that is neither the model nor the sandbox: the agent's own cost."""
        return max(0.0, self.wall_s - self.model_s - self.sandbox_s)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the derived totals included so a reader of the JSON needs no arithmetic."""
        skip = ("attempts", "pending", "checks", "cost", "escalations")
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        pending = self.pending  # never with its checkpoint: that stays with the server
        return data | {"attempts": [asdict(a) for a in self.attempts], "checks": list(self.checks),
            "cost": self.cost.to_dict() if self.cost is not None else None,
            "escalations": [e.to_dict() for e in self.escalations],
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "model_s": self.model_s, "sandbox_s": self.sandbox_s, "overhead_s": self.overhead_s,
            "pending": pending.to_dict() if pending is not None else None}
