"""Typed results of a tool agent run: each tool call with what it cost, and how the run ended."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from nativa.agent.result import AwaitingApproval, Escalation, ReviewNote
from nativa.intent.model import Intent
from nativa.models.cost import Cost

StopReason = Literal["final_answer", "max_steps", "repeated_error", "clarify", "direct", "model_error",
                     "review_unavailable", "awaiting_approval"]


# What the tool agent answers to a repeated identical call (it does not run it again). The cascade reads
# them: a repeat after a success is the model's way to finish, a repeat after a failure is a failure.
REPEAT_FAILED = ("You already made exactly this call and it failed; the error is above. Make a different call "
                 "that fixes the error.")
REPEAT_OK = "You already made exactly this call; its result is above. Answer from it."


@dataclass(slots=True)
class ToolStep:
    """One tool call: what the model asked for, what it got back, and what it cost."""

    tool: str
    arguments: dict[str, Any]
    observation: str
    error: str | None = None
    model_s: float = 0.0
    tool_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    review: ReviewNote | None = None  # with a review gate: what it said before the call could run

    def to_dict(self) -> dict[str, Any]:
        """The step as JSON, its review note included."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolStep:
        """A step back from `to_dict` (a paused run's checkpoint); unknown keys are dropped."""
        names = set(cls.__slots__)  # type: ignore[attr-defined]
        kept = {k: v for k, v in data.items() if k in names}
        kept["review"] = ReviewNote.from_dict(data["review"]) if data.get("review") else None
        return cls(**kept)


@dataclass(slots=True)
class ToolAgentResult:
    """The answer (None if there is none), every step, and the trace that recorded the run."""

    answer: str | None
    steps: list[ToolStep] = field(default_factory=list)
    trace_id: str | None = None
    question: str = ""
    stop_reason: StopReason = "max_steps"
    clarification: str | None = None
    intent: Intent | None = None
    model: str = ""
    wall_s: float = 0.0
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    stop_message: str | None = None  # why it stopped, in words, when a review stopped it
    pending: AwaitingApproval | None = None  # stop_reason "awaiting_approval": the call a person must answer
    cost: Cost | None = None  # per stage of the model chain (one for a single model) and in total
    escalations: list[Escalation] = field(default_factory=list)  # a cascade's hand-overs, in order
    answered_by: str | None = None  # the model (a cascade's stage) whose answer this is
    local_only: list[str] = field(default_factory=list)  # why the run must stay off remote models

    def to_dict(self) -> dict[str, Any]:
        """`{answer, steps: [{tool, arguments, observation, error, ...}], trace_id}` plus run details."""
        return {"answer": self.answer, "steps": [s.to_dict() for s in self.steps], "trace_id": self.trace_id,
                "question": self.question, "stop_reason": self.stop_reason, "clarification": self.clarification,
                "intent": self.intent.model_dump() if self.intent is not None else None, "model": self.model,
                "wall_s": self.wall_s, "model_calls": self.model_calls, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens, "stop_message": self.stop_message,
                "pending": self.pending.to_dict() if self.pending is not None else None,
                "cost": self.cost.to_dict() if self.cost is not None else None,
                "escalations": [e.to_dict() for e in self.escalations], "answered_by": self.answered_by,
                "local_only": list(self.local_only)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolAgentResult:
        """A result from its `to_dict` (a paused run's progress so far); `pending` is not restored."""
        intent = Intent.model_validate(data["intent"]) if data.get("intent") else None
        return cls(answer=data["answer"], steps=[ToolStep.from_dict(s) for s in data["steps"]],
                   trace_id=data["trace_id"], question=data["question"], stop_reason=data["stop_reason"],
                   clarification=data["clarification"], intent=intent, model=data["model"], wall_s=data["wall_s"],
                   model_calls=data["model_calls"], input_tokens=data["input_tokens"],
                   output_tokens=data["output_tokens"], stop_message=data.get("stop_message"),
                   cost=Cost.from_dict(data.get("cost")),
                   escalations=[Escalation.from_dict(e) for e in data.get("escalations") or []],
                   answered_by=data.get("answered_by"), local_only=list(data.get("local_only") or []))
