"""`Intent`: what a request asks for, validated, before any agent spends tokens on it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

IntentKind = Literal["sql", "http", "code", "chat", "tool", "unclear"]
INTENT_KINDS: tuple[str, ...] = ("sql", "http", "code", "chat", "tool", "unclear")
# Which tool kinds (Tool.kind) serve an intent kind; "tool" means any tool, "chat" none.
TOOL_KINDS: dict[str, tuple[str, ...]] = {"sql": ("sql",), "http": ("http",), "code": ("code",), "chat": ()}


class Intent(BaseModel):
    """A request's kind, the arguments already known, and how sure the parser is.

    `direct` means the arguments alone make the whole call (a raw SELECT, a fenced Python block), so no
    model is needed; `question` is the clarifying question for an `unclear` request. A model's
    `confidence` is the probability it gave its own pick (its token logprobs), never a number it wrote.
    """

    model_config = ConfigDict(extra="forbid")

    kind: IntentKind
    arguments: dict[str, str] = Field(default_factory=dict)
    confidence: float = Field(ge=0.0, le=1.0)
    source: Literal["rule", "model", "default"] = "rule"
    rule: str | None = None
    direct: bool = False
    question: str | None = None
    # a model's pick: the probability its tokens gave it; None when the model sent no logprobs (and then
    # `confidence` is 0.5, unknown), or the intent is not a model's
    probability: float | None = Field(default=None, ge=0.0, le=1.0)
    # on a cascade: the stage whose pick this is, whether an earlier one handed it on, and why
    stage: str | None = None
    escalated: bool = False
    escalation: str | None = None

    @model_validator(mode="after")
    def _clarify_needs_question(self) -> Intent:
        if self.kind == "unclear" and not self.question:
            raise ValueError("an unclear intent needs a clarifying question")
        if self.direct and self.kind not in ("sql", "code", "http"):
            raise ValueError(f"only sql, code and http intents can be direct, not {self.kind!r}")
        return self

    @property
    def needs_clarification(self) -> bool:
        """Whether to ask back instead of acting: an unclear request is cheaper to clarify than to answer
        wrongly.
        """
        return self.kind == "unclear"
