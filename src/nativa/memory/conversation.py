"""A turn of conversation that remembers, and what an agent run leaves in a session for the next one.

`converse()` is one chat turn: build the context (memories, summary, recent turns), ask the model, store
the question and the answer together. `record_agent_run()` and `session_history()` let `nativa code` and
`nativa run` (and their HTTP routes) keep tasks and results in a session and hand the next task what came
before, as text, so the agents need no change: "now make it handle negative numbers" reaches the model
beside the task it refers to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nativa import tracing
from nativa.config import Settings
from nativa.memory.context import Context, ContextBuilder
from nativa.memory.memory import Memory
from nativa.memory.types import RunKind, Session, StoredMessage
from nativa.models.base import ChatModel, Completion, GenerationOptions
from nativa.models.traced import traced_complete
from nativa.prompts import memory as prompts

_CODE_KEEP = 4000  # characters of a run's final code kept in its session message


@dataclass(slots=True)
class Turn:
    """One answered message: the reply, the context it was built from, and its trace."""

    reply: str
    session: Session
    context: Context
    completion: Completion
    trace_id: str | None

    def to_dict(self) -> dict[str, Any]:
        """The shape `nativa chat --json` prints."""
        return {"reply": self.reply, "session": self.session.name,
                "recalled": [{"text": r.item.text, "score": round(r.score, 4)} for r in self.context.recalled],
                "context_tokens": self.context.tokens, "summarized": self.context.summarized,
                "input_tokens": self.completion.input_tokens, "output_tokens": self.completion.output_tokens,
                "trace_id": self.trace_id}


def converse(memory: Memory, session: Session, text: str, *, model: ChatModel, builder: ContextBuilder,
             options: GenerationOptions, settings: Settings | None = None,
             on_delta: Callable[[str], None] | None = None) -> Turn:
    """Answer `text` in `session` with what the session and the memories hold; store the turn whole."""
    with tracing.agent_span("chat", model=model.name, provider=model.provider,
                            conversation_id=session.name) as span:
        context = builder.build(session, text)
        completion = traced_complete(model, context.messages, options, prompt_file="chat_system.txt",
                                     prompt_hash=prompts.load("chat_system.txt").hash, settings=settings,
                                     on_text=on_delta)
        record_turn(memory, session, text, completion.text, model)
    return Turn(completion.text, session, context, completion, span.trace_id)


def record_turn(memory: Memory, session: Session, question: str, answer: str,
                model: ChatModel) -> list[StoredMessage]:
    """The question and the answer in one transaction (a crash never keeps half a turn)."""
    return memory.add_turn(session, [("user", question), ("assistant", answer)], count_tokens=model.count_tokens)


def describe_result(kind: RunKind, result: dict[str, Any]) -> str:
    """What an agent run leaves in its session's history: the outcome and the code or the answer."""
    if kind == "code":
        verdict = "solved" if result.get("success") else f"not solved ({result.get('stop_reason', 'failed')})"
        code = (result.get("code") or "").strip()
        if len(code) > _CODE_KEEP:
            code = code[:_CODE_KEEP] + "\n# ... (cut)"
        return f"{verdict}; final code:\n```python\n{code}\n```" if code else f"{verdict}; no code"
    answer = result.get("answer")
    if answer is not None:
        return f"answer: {answer}"
    return f"no answer ({result.get('clarification') or result.get('stop_reason', 'failed')})"


def record_agent_run(memory: Memory, session: Session, kind: RunKind, task: str, result: dict[str, Any],
                     *, count_tokens: Callable[[str], int] | None = None) -> None:
    """Keep the task, the agent's whole result (JSON) and a readable outcome in the session."""
    memory.record_run(session, kind, task, result, result.get("trace_id"))
    memory.add_turn(session, [("user", task), ("assistant", describe_result(kind, result))],
                    count_tokens=count_tokens, remember_roles=())  # history, not facts: no embedder needed


def session_history(memory: Memory, session: Session, *, budget_tokens: int,
                    count_tokens: Callable[[str], int]) -> str:
    """The session's latest exchanges as text for the next task's prompt, newest kept first, under budget."""
    header = prompts.load("session_history.txt").text
    used = count_tokens(header)
    kept: list[str] = []
    for message in reversed(memory.messages(session, limit=200)):
        line = f"[{'task' if message.role == 'user' else 'result'}] {message.content}"
        cost = count_tokens(line) + 1
        if used + cost > budget_tokens:
            break
        kept.append(line)
        used += cost
    if not kept:
        return ""
    return header + "\n" + "\n".join(reversed(kept))


def with_history(history: str, task: str) -> str:
    """The task text an agent gets in a session: what came before, then the new request."""
    return f"{history}\n\nNew request: {task}" if history else task


class AgentSession:
    """A session seen from an agent run: the task text with the session's history, and the run recorded after.

    The CLI and the server wrap `nativa code` / `nativa run` with it, so the agents themselves need no change."""

    def __init__(self, memory: Memory, session: Session, count_tokens: Callable[[str], int],
                 budget_tokens: int = 1024) -> None:
        self.memory = memory
        self.session = session
        self.count_tokens = count_tokens
        self.budget_tokens = budget_tokens

    def task_text(self, task: str) -> str:
        """The task with the session's history before it, for an agent that reads both as one text (the
        tool agent)."""
        return with_history(self.history(), task)

    def history(self) -> str:
        """What came before in the session, under the budget: for an agent that takes it apart from its task
        (the code agent), so history is never parsed as the task's own code or examples."""
        return session_history(self.memory, self.session, budget_tokens=self.budget_tokens,
                               count_tokens=self.count_tokens)

    def record(self, kind: RunKind, task: str, result: dict[str, Any]) -> None:
        """Keep the run and a readable outcome in the session, so the next task's history includes it."""
        record_agent_run(self.memory, self.session, kind, task, result, count_tokens=self.count_tokens)
