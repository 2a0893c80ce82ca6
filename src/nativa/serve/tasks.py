"""The work behind each route, as plain blocking functions: the HTTP jobs and the event handler share them.

They run on a worker thread, inside the request's trace, and stop between tokens when their `JobControl`
is cancelled. `emit` (optional) receives progress for streaming responses: `("delta", text)` for chat,
`("event", kind, attempt)` for the code agent, `("step", step)` for the tool agent.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from nativa import tracing
from nativa.config import Settings
from nativa.errors import BadInputError, ModelError
from nativa.models.base import ChatModel, Completion, GenerationOptions, Message
from nativa.serve.jobs import CancellableModel, Emit, JobControl
from nativa.serve.scheduler import stream_for

if TYPE_CHECKING:
    from nativa.agent.result import AgentResult
    from nativa.agent.review_gate import ReviewGate
    from nativa.review.approvals import Answer

Resume = tuple[dict[str, Any], "Answer"]  # a paused run's checkpoint and the person's answer

_OVERFLOW_HINT = "does not fit"  # LocalModel's wording when the prompt exceeds the context window


def chat(model: ChatModel, messages: Sequence[Message], options: GenerationOptions, settings: Settings | None,
         control: JobControl, emit: Emit | None = None) -> Completion:
    """One chat completion under a GenAI model span; each text delta goes to `emit` when streaming. A model
    that batches runs it as one sequence of its running batch."""
    completion: Completion | None = None
    with tracing.model_span(model=model.name, provider=model.provider, remote=model.remote,
                            temperature=options.temperature, max_tokens=options.max_tokens,
                            settings=settings) as span:
        span.set_input_messages([m.to_dict() for m in messages])
        try:
            for delta in stream_for(model, control)(messages, options):
                if delta.text:
                    span.first_token()
                    if emit is not None:
                        emit(("delta", delta.text))
                if delta.completion is not None:
                    completion = delta.completion
        except ModelError as exc:
            if _OVERFLOW_HINT in str(exc):
                raise BadInputError(f"messages: {exc}") from None
            raise
        if completion is None:
            raise ModelError(f"model '{model.name}' ended its stream without a completion")
        span.set_result(input_tokens=completion.input_tokens, output_tokens=completion.output_tokens,
                        finish_reasons=[completion.finish_reason], output_text=completion.text)
    return completion


def code(model: ChatModel, sandbox: Any, *, task: str | None, code_to_fix: str | None, tests: str | None,
         max_attempts: int, max_tokens: int, timeout_s: float, settings: Settings | None, control: JobControl,
         emit: Emit | None = None, candidates: int = 4, context: str | None = None) -> dict[str, Any]:
    """The self-correcting code agent (`nativa code`); attempts go to `emit` as they start and finish."""
    return code_result(model, sandbox, task=task, code_to_fix=code_to_fix, tests=tests, max_attempts=max_attempts,
                       max_tokens=max_tokens, timeout_s=timeout_s, settings=settings, control=control, emit=emit,
                       candidates=candidates, context=context).to_dict()


def code_result(model: ChatModel, sandbox: Any, *, task: str | None, code_to_fix: str | None, tests: str | None,
                max_attempts: int, max_tokens: int, timeout_s: float, settings: Settings | None,
                control: JobControl, emit: Emit | None = None, candidates: int = 4, context: str | None = None,
                review: ReviewGate | None = None, resume: Resume | None = None) -> AgentResult:
    """`code` as the agent's typed result; with `review` it may pause (`result.pending`), and `resume`
    (a paused run's checkpoint and the person's answer) goes on with one."""
    from nativa.agent import CodeAgent

    def on_event(kind: str, attempt: Any) -> None:
        control.check()
        if emit is not None:
            emit(("event", kind, asdict(attempt)))

    agent = CodeAgent(CancellableModel(model, control), sandbox, max_attempts=max_attempts, candidates=candidates,
                      max_tokens=max_tokens,
                      temperature=settings.temperature if settings else 0.0, timeout_s=timeout_s,
                      settings=settings, on_event=on_event, review=review)
    if resume is not None:
        return agent.resume(*resume)
    if code_to_fix and code_to_fix.strip():
        return agent.fix(code_to_fix, task=task, tests=tests, context=context)
    return agent.solve(task or "", tests, context=context)


@functools.cache
def tool_agent_missing() -> str | None:
    """Why `/v1/run` cannot work here (the tool agent is not installed), or None when it can."""
    try:
        from nativa.agent.tool_agent import ToolAgent  # noqa: F401
        from nativa.tools import build_tools  # noqa: F401
    except ImportError as exc:
        return f"the tool agent is not available in this build of nativa ({exc})"
    return None


def run_tools(model: ChatModel, *, question: str, max_steps: int, db: str | None, allow_hosts: Sequence[str],
              settings: Settings, control: JobControl, emit: Emit | None = None) -> dict[str, Any]:
    """The tool agent with read-only tools; steps go to `emit` live when the agent reports them, else after."""
    return tools_result(model, question=question, max_steps=max_steps, db=db, allow_hosts=allow_hosts,
                        settings=settings, control=control, emit=emit).to_dict()


def tools_result(model: ChatModel, *, question: str, max_steps: int, db: str | None, allow_hosts: Sequence[str],
                 settings: Settings, control: JobControl, emit: Emit | None = None,
                 review: ReviewGate | None = None, resume: Resume | None = None) -> Any:
    """`run_tools` as the agent's typed result (`ToolAgentResult`); `review` and `resume` as for `code_result`."""
    from nativa.agent.tool_agent import ToolAgent
    from nativa.tools import build_tools

    tools = build_tools(settings, db=db, allow_hosts=list(allow_hosts), allow_private=False, allow_writes=False)
    extra: dict[str, Any] = {}
    hook = _event_hook(ToolAgent)
    live = emit is not None and hook is not None
    if live:
        assert hook is not None and emit is not None

        def on_step(*args: Any) -> None:
            control.check()
            emit(("step", _jsonable(args[-1])))

        extra[hook] = on_step
    if review is not None:
        extra["review"] = review
    try:
        agent = ToolAgent(CancellableModel(model, control), tools, max_steps=max_steps, settings=settings, **extra)
        result = agent.resume(*resume) if resume is not None else agent.run(question)
    finally:
        _close(tools)
    if emit is not None and not live:
        for step in result.steps:
            emit(("step", _jsonable(step)))
    return result


def _close(tools: Any) -> None:
    """Tools hold engines, sandboxes and connections; a request's tools die with the request."""
    try:
        from nativa.tools import close_tools
    except ImportError:
        return
    close_tools(tools)


def _event_hook(cls: type) -> str | None:
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return None
    return next((name for name in ("on_step", "on_event") if name in params), None)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return value


def options_for(max_tokens: int, temperature: float, stop: Sequence[str] = (), json_schema: Any = None,
                seed: int | None = 0) -> GenerationOptions:
    """`GenerationOptions`, with its validation errors (bad schema, ...) as the caller's mistake."""
    return GenerationOptions(max_tokens=max_tokens, temperature=temperature, stop=tuple(stop),
                             json_schema=json_schema, seed=seed)


TaskFn = Callable[[JobControl, Emit], Any]
