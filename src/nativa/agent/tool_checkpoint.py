"""The tool agent's conversation, and the JSON a paused run is kept as (nothing pickled), so a run that waits
for a person's approval goes on later, in this process or another."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nativa.agent.tool_result import ToolAgentResult
from nativa.errors import BadInputError
from nativa.models.base import ChatModel, Completion, Message
from nativa.tools.choice import Choice


@dataclass(slots=True)
class Talk:
    """The conversation so far, and what a paused run keeps of it: messages, calls made, where it restarted."""

    messages: list[Message]
    previous: dict[tuple[str, str], tuple[bool, str]] = field(default_factory=dict)  # call -> (ok, observation)
    restarted_at: int | None = None  # steps taken when the conversation last started over
    pending: tuple[Choice, Completion, float] | None = None  # a call to act on before the model is asked again
    model: ChatModel | None = None  # who is asked (a cascade's stage); None: the agent's model
    stage: int = 0  # that stage's place in the cascade


VERSION = 1


def save(result: ToolAgentResult, talk: Talk, pending_hash: str) -> dict[str, Any]:
    """A paused run as JSON: the result so far, the conversation, and the call a person is asked about."""
    assert talk.pending is not None
    choice, completion, model_s = talk.pending
    return {"version": VERSION, "kind": "run", "pending_hash": pending_hash, "result": result.to_dict(),
            "messages": [m.to_dict() for m in talk.messages], "restarted_at": talk.restarted_at,
            "previous": [[tool, args, ok, seen] for (tool, args), (ok, seen) in talk.previous.items()],
            "stage": talk.stage,
            "call": {"tool": choice.tool, "arguments": choice.arguments, "text": completion.text,
                     "input_tokens": completion.input_tokens, "output_tokens": completion.output_tokens,
                     "model_s": model_s}}


def load(data: dict[str, Any], model: str) -> tuple[ToolAgentResult, Talk, str]:
    """The run `save` wrote: its result so far, the conversation, and the hash of the call awaiting an answer."""
    if data.get("version") != VERSION or data.get("kind") != "run":
        raise BadInputError(f"the paused run's checkpoint is of another kind or version ({data.get('kind')!r} "
                            f"v{data.get('version')!r}); this nativa resumes tool-agent checkpoints v{VERSION}")
    call = data["call"]
    completion = Completion(call["text"], "stop", int(call["input_tokens"]), int(call["output_tokens"]), 0.0, model)
    talk = Talk([Message(m["role"], m["content"]) for m in data["messages"]],
                 {(tool, args): (bool(ok), seen) for tool, args, ok, seen in data["previous"]},
                 data["restarted_at"], (Choice(call["tool"], dict(call["arguments"])), completion,
                                        float(call["model_s"])), stage=int(data.get("stage", 0)))
    return ToolAgentResult.from_dict(data["result"]), talk, str(data["pending_hash"])
