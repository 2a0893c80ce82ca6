"""The work behind each route, as plain blocking functions: the HTTP jobs and the event handler share them.

They run on a worker thread, inside the request's trace, and stop between tokens when their `JobControl`
is cancelled. `emit` (optional) receives progress for streaming responses: `("delta", text)` for chat,
`("event", kind, attempt)` for the code agent, `("step", step)` for the tool agent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from nativa.config import Settings
from nativa.errors import BadInputError, ModelError
from nativa.models.base import ChatModel, Completion, GenerationOptions, Message
from nativa.models.cascade import CascadeModel
from nativa.models.traced import traced_complete
from nativa.serve.jobs import CancellableModel, Emit, JobControl
from nativa.serve.scheduler import JobStream

if TYPE_CHECKING:
    from nativa.agent.result import AgentResult
    from nativa.agent.review_gate import ReviewGate
    from nativa.review.approvals import Answer

Resume = tuple[dict[str, Any], "Answer"]  # a paused run's checkpoint and the person's answer

if TYPE_CHECKING:
    from nativa.sandbox.protocol import SandboxLike

_OVERFLOW_HINT = "does not fit"  # LocalModel's wording when the prompt exceeds the context window


def chat(model: ChatModel, messages: Sequence[Message], options: GenerationOptions, settings: Settings | None,
         control: JobControl, emit: Emit | None = None) -> Completion:
    """One chat completion under a GenAI model span; each text delta goes to `emit` when streaming. A model
    that batches runs it as one sequence of its running batch."""
    on_text = None if emit is None else (lambda text: emit(("delta", text)))
    try:
        return traced_complete(JobStream(model, control), list(messages), options, settings=settings,
                               on_text=on_text)
    except ModelError as exc:
        if _OVERFLOW_HINT in str(exc):
            raise BadInputError(f"messages: {exc}") from None
        raise


def cancellable(model: ChatModel, control: JobControl) -> ChatModel:
    """The model as one job sees it, stopping once the job is cancelled; a cascade stays a cascade (its
    stages are wrapped, not it), so the agent can still escalate."""
    if isinstance(model, CascadeModel):
        return model.wrapped(lambda stage: CancellableModel(stage, control))
    return CancellableModel(model, control)


def code(model: ChatModel, sandbox: SandboxLike, *, task: str | None, code_to_fix: str | None, tests: str | None,
         max_attempts: int, max_tokens: int, timeout_s: float, settings: Settings | None, control: JobControl,
         emit: Emit | None = None, candidates: int = 4, context: str | None = None) -> dict[str, Any]:
    """The self-correcting code agent (`nativa code`); attempts go to `emit` as they start and finish."""
    return code_result(model, sandbox, task=task, code_to_fix=code_to_fix, tests=tests, max_attempts=max_attempts,
                       max_tokens=max_tokens, timeout_s=timeout_s, settings=settings, control=control, emit=emit,
                       candidates=candidates, context=context).to_dict()


def code_result(model: ChatModel, sandbox: Any, *, task: str | None, code_to_fix: str | None, tests: str | None,
                max_attempts: int, max_tokens: int, timeout_s: float, settings: Settings | None,
                control: JobControl, emit: Emit | None = None, candidates: int = 4, context: str | None = None,
                review: ReviewGate | None = None, resume: Resume | None = None,
                local_only: bool = False) -> AgentResult:
    """`code` as the agent's typed result; with `review` it may pause (`result.pending`), and `resume`
    (a paused run's checkpoint and the person's answer) goes on with one. `local_only` keeps the run off
    a cascade's remote stages."""
    from nativa.agent import CodeAgent

    def on_event(kind: str, attempt: Any) -> None:
        control.check()
        if emit is not None:
            emit(("event", kind, asdict(attempt)))

    agent = CodeAgent(cancellable(model, control), sandbox, max_attempts=max_attempts, candidates=candidates,
                      max_tokens=max_tokens,
                      temperature=settings.temperature if settings else 0.0, timeout_s=timeout_s,
                      settings=settings, on_event=on_event, review=review)
    if resume is not None:
        return agent.resume(*resume)
    if code_to_fix and code_to_fix.strip():
        return agent.fix(code_to_fix, task=task, tests=tests, context=context, local_only=local_only)
    return agent.solve(task or "", tests, context=context, local_only=local_only)


def run_tools(model: ChatModel, *, question: str, max_steps: int, db: str | None, allow_hosts: Sequence[str],
              settings: Settings, control: JobControl, emit: Emit | None = None) -> dict[str, Any]:
    """The tool agent with read-only tools; each step goes to `emit` as the agent takes it."""
    return tools_result(model, question=question, max_steps=max_steps, db=db, allow_hosts=allow_hosts,
                        settings=settings, control=control, emit=emit).to_dict()


def tools_result(model: ChatModel, *, question: str, max_steps: int, db: str | None, allow_hosts: Sequence[str],
                 settings: Settings, control: JobControl, emit: Emit | None = None,
                 review: ReviewGate | None = None, resume: Resume | None = None, local_only: bool = False) -> Any:
    """`run_tools` as the agent's typed result (`ToolAgentResult`); `review`, `resume` and `local_only` as
    for `code_result`."""
    from nativa.agent.tool_agent import ToolAgent, ToolStep
    from nativa.tools import build_tools, close_tools

    def on_event(kind: str, step: ToolStep) -> None:
        control.check()
        if emit is not None:
            emit(("step", step.to_dict()))

    tools = build_tools(settings, db=db, allow_hosts=list(allow_hosts), allow_private=False, allow_writes=False)
    try:
        agent = ToolAgent(cancellable(model, control), tools, max_steps=max_steps, settings=settings,
                          on_event=on_event, review=review)
        if resume is not None:
            return agent.resume(*resume)
        return agent.run(question, local_only=True) if local_only else agent.run(question)
    finally:
        close_tools(tools)  # tools hold engines, sandboxes and connections: they die with the request


def options_for(max_tokens: int, temperature: float, stop: Sequence[str] = (), json_schema: Any = None,
                seed: int | None = 0, logprobs: bool = False) -> GenerationOptions:
    """`GenerationOptions`, with its validation errors (bad schema, ...) as the caller's mistake."""
    return GenerationOptions(max_tokens=max_tokens, temperature=temperature, stop=tuple(stop),
                             json_schema=json_schema, seed=seed, logprobs=logprobs)


TaskFn = Callable[[JobControl, Emit], Any]
