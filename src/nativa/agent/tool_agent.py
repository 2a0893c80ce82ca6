"""The tool-using agent: the model picks a tool under a JSON schema, sees the result, and repeats until it
gives a final answer or runs out of steps.

    agent = ToolAgent(model, build_tools(settings, db=url, allow_hosts=[], allow_private=False,
                                         allow_writes=False))
    result = agent.run("which region sold most in 2024?")
    result.answer, result.steps, result.trace_id

`ToolAgent._loop` is the whole algorithm in one method. The prompt (files under prompts/: tool_system,
tool_observation, tool_error, tool_final) lists the tools and what they need known (the database schema);
each model reply is constrained to `{"tool", "arguments"}` (`nativa.tools.choice`), so even the 0.5B
model names a real tool with well-formed arguments. A failed call (validation, a SQL error, a refused
URL) is an observation like any other, fed back so the model can repair its call. A repeated identical
call is not run again: after a failure the conversation restarts from the question with the failed call
and its error in view (greedy decoding would repeat itself in the same context), after a success the model
is asked for the final answer with that result restated. After `max_steps` tool calls the model gets
one last turn constrained to `final_answer`, so a run always ends with the best answer the results allow.
An `Intent` (from `nativa.intent`) narrows the tools, runs a fully specified call directly, or returns
its clarifying question instead of guessing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Self

from nativa import tracing
from nativa.agent._prompts import Prompt, load_prompt
from nativa.config import Settings
from nativa.errors import BadInputError, NativaError
from nativa.intent.model import TOOL_KINDS, Intent
from nativa.intent.parser import IntentContext, IntentParser
from nativa.models.base import ChatModel, Completion, GenerationOptions, Message
from nativa.models.traced import traced_complete
from nativa.tools.base import Tool
from nativa.tools.choice import FINAL, Choice, choice_schema, parse_choice

StopReason = Literal["final_answer", "max_steps", "repeated_error", "clarify", "direct", "model_error"]
EventFn = Callable[[str, "ToolStep"], None]
_OBSERVATION_CHARS = 3000
_REPEAT = ("You already made exactly this call and it failed; the error is above. Make a different call that "
           "fixes the error.")
_REPEAT_OK = "You already made exactly this call; its result is above. Answer from it."


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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

    def to_dict(self) -> dict[str, Any]:
        """`{answer, steps: [{tool, arguments, observation, error, ...}], trace_id}` plus run details."""
        return {"answer": self.answer, "steps": [s.to_dict() for s in self.steps], "trace_id": self.trace_id,
                "question": self.question, "stop_reason": self.stop_reason, "clarification": self.clarification,
                "intent": self.intent.model_dump() if self.intent is not None else None, "model": self.model,
                "wall_s": self.wall_s, "model_calls": self.model_calls, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens}


class ToolAgent:
    """Answers questions from data it must look up (a database, a web API, a computation) rather than from what
    the model remembers: the model may only name a real tool with well-formed arguments, every result or error
    is fed back, and the run ends with the best answer the results allow or none at all, never a made-up one.
    """

    def __init__(self, model: ChatModel, tools: Sequence[Tool], max_steps: int = 6, settings: Settings | None = None,
                 *, max_tokens: int = 256, intent_parser: IntentParser | None = None,
                 on_event: EventFn | None = None) -> None:
        if max_steps < 1:
            raise BadInputError(f"max_steps must be >= 1, got {max_steps}")
        names = [t.name for t in tools]
        duplicates = sorted({n for n in names if names.count(n) > 1} | ({FINAL} & set(names)))
        if duplicates:
            raise BadInputError(f"tool names must be unique and not {FINAL!r}; clashing: {', '.join(duplicates)}")
        self.model = model
        self.tools = list(tools)
        self.max_steps = max_steps
        self.settings = settings
        self.max_tokens = max_tokens
        self.intent_parser = intent_parser
        self.on_event = on_event

    def run(self, question: str, *, intent: Intent | None = None) -> ToolAgentResult:
        """Answer `question` with the tools; an `intent` (given, or parsed by `intent_parser`) may narrow them,
        run a direct call, or ask back instead."""
        if not question or not question.strip():
            raise BadInputError("the question is empty; ask something the tools can answer")
        return self._loop(question.strip(), intent)

    def close(self) -> None:
        """Close the tools (database engines, sandbox sessions, MCP connections) when the agent is done."""
        from nativa.tools import close_tools

        close_tools(self.tools)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def arun(self, question: str, *, intent: Intent | None = None) -> ToolAgentResult:
        """`run` in a worker thread, for async callers (the model call blocks)."""
        return await asyncio.to_thread(self.run, question, intent=intent)

    # -- the loop ----------------------------------------------------------------------------------
    def _loop(self, question: str, intent: Intent | None) -> ToolAgentResult:
        start = time.perf_counter()
        result = ToolAgentResult(answer=None, question=question, intent=intent, model=self.model.name)
        with tracing.agent_span("tool_agent", model=self.model.name, provider=self.model.provider) as span:
            result.trace_id = span.trace_id
            if intent is None and self.intent_parser is not None:
                intent = result.intent = self.intent_parser.parse(question, IntentContext.from_tools(self.tools))
                span.set_attribute("nativa.intent.kind", intent.kind)
            tools = self._tools_for(intent)
            if intent is not None and intent.needs_clarification:
                result.stop_reason, result.clarification = "clarify", intent.question
            elif intent is not None and intent.direct and self._direct(intent, tools, result):
                result.stop_reason = "direct"
            else:
                messages = [Message("system", self._system(tools)), Message("user", question)]
                previous: dict[tuple[str, str], tuple[bool, str]] = {}  # call -> (succeeded, observation)
                restarted_at: int | None = None  # steps taken when the conversation last started over
                while True:
                    forced = self._forced_end(result.steps, restarted_at)  # set: this turn must answer
                    final_only = forced is not None
                    result.stop_reason = forced or "max_steps"
                    if final_only and not any(s.error is None for s in result.steps):
                        break  # no result to answer from: no answer beats a made-up one
                    if final_only:
                        latest = next(s.observation for s in reversed(result.steps) if s.error is None)
                        messages.append(Message("user", load_prompt("tool_final").render(
                            question=question, observation=latest[:_OBSERVATION_CHARS])))
                    # No answer before the first tool call: small models otherwise answer from thin air.
                    final = final_only or bool(result.steps) or not tools
                    try:
                        choice, completion, model_s = self._choose(messages, [] if final_only else tools, result,
                                                                   final=final)
                    except NativaError as exc:
                        result.stop_reason = "model_error"
                        result.steps.append(ToolStep("(model)", {}, "", error=f"{type(exc).__name__}: {exc}"))
                        break
                    if choice.is_final and choice.error is None and "answer" in choice.arguments:
                        answer = choice.arguments["answer"]
                        result.answer = answer if isinstance(answer, str) else json.dumps(answer)
                        result.stop_reason = forced or "final_answer"
                        break
                    if final_only:  # even the constrained last turn gave nothing usable
                        break
                    step = self._act(choice, tools, previous)
                    step.model_s = model_s
                    step.input_tokens, step.output_tokens = completion.input_tokens, completion.output_tokens
                    result.steps.append(step)
                    self._emit("step", step)
                    if step.observation == _REPEAT_OK:
                        continue  # the next turn is the final answer, with that result restated
                    if step.observation == _REPEAT and restarted_at is None:
                        # Greedy decoding repeats itself in the same context: start over from the question,
                        # with the failed call and its error in view, like the code agent's regenerate.
                        restarted_at = len(result.steps)
                        messages = [messages[0], Message("user", load_prompt("tool_retry").render(
                            question=question, call=completion.text.strip(),
                            observation=previous[_key(choice)][1][:_OBSERVATION_CHARS]))]
                        continue
                    feedback = "tool_error" if step.error else "tool_observation"
                    messages.append(Message("assistant", completion.text.strip()))
                    messages.append(Message("user", load_prompt(feedback).render(
                        tool=step.tool, observation=step.observation[:_OBSERVATION_CHARS], question=question)))
            span.set_attribute("nativa.agent.steps", len(result.steps))
            span.set_attribute("nativa.agent.stop_reason", result.stop_reason)
            span.set_attribute("nativa.agent.answered", result.answer is not None)
        result.wall_s = time.perf_counter() - start
        return result

    # -- pieces of a step --------------------------------------------------------------------------
    def _forced_end(self, steps: list[ToolStep], restarted_at: int | None) -> StopReason | None:
        """Why the next turn may only answer: out of steps, a failure repeated after a fresh start, or a
        repeat of a call that worked (nothing more to look up); None while the model may still call tools."""
        last = steps[-1] if steps else None
        if last is not None and last.observation == _REPEAT and restarted_at is not None and len(steps) > restarted_at:
            return "repeated_error"
        if len(steps) >= self.max_steps:
            return "max_steps"
        if last is not None and last.observation == _REPEAT_OK:
            return "final_answer"
        return None

    def _tools_for(self, intent: Intent | None) -> list[Tool]:
        """The tools an intent points at; all of them when it points at none that exist."""
        if intent is None or intent.kind not in TOOL_KINDS:
            return self.tools
        wanted = TOOL_KINDS[intent.kind]
        chosen = [t for t in self.tools if t.kind in wanted]
        return chosen if chosen or not wanted else self.tools

    def _direct(self, intent: Intent, tools: list[Tool], result: ToolAgentResult) -> bool:
        """Run the call an intent fully specifies; on failure the model takes over with the error in view."""
        target = next(iter(tools), None)
        if target is None or len(tools) != 1:
            return False
        outcome = target.call(dict(intent.arguments))
        step = ToolStep(target.name, dict(intent.arguments), outcome.observation,
                        error=None if outcome.ok else outcome.error, tool_s=outcome.duration_s)
        result.steps.append(step)
        self._emit("step", step)
        if outcome.ok:
            result.answer = outcome.output
        return outcome.ok

    def _system(self, tools: list[Tool]) -> str:
        prompt = load_prompt("tool_system")
        contexts = [c for c in (t.context() for t in tools) if c]
        return prompt.render(tools="\n".join(f"- {t.signature()}" for t in tools), context="\n\n".join(contexts))

    def _choose(self, messages: list[Message], tools: list[Tool], result: ToolAgentResult, *,
                final: bool) -> tuple[Choice, Completion, float]:
        options = GenerationOptions(max_tokens=self.max_tokens, temperature=0.0, json_schema=choice_schema(tools, final=final))
        completion, model_s = self._ask(messages, options, load_prompt("tool_system"))
        result.model_calls += 1
        result.input_tokens += completion.input_tokens
        result.output_tokens += completion.output_tokens
        choice = parse_choice(completion.text, [t.name for t in tools])
        if choice.error is None and completion.finish_reason == "length" and not choice.is_final:
            choice.error = f"the reply was cut off at {self.max_tokens} tokens; make the call shorter"
        return choice, completion, model_s

    def _ask(self, messages: list[Message], options: GenerationOptions, prompt: Prompt) -> tuple[Completion, float]:
        started = time.perf_counter()
        completion = traced_complete(self.model, messages, options, prompt_file=prompt.file,
                                     prompt_hash=prompt.hash, settings=self.settings)
        return completion, time.perf_counter() - started

    def _act(self, choice: Choice, tools: list[Tool], previous: dict[tuple[str, str], tuple[bool, str]]) -> ToolStep:
        """Run the chosen tool, or turn an unusable choice into an error observation."""
        name = choice.tool or "(invalid)"
        if choice.error is not None:
            return ToolStep(name, choice.arguments, f"Error: {choice.error}", error=choice.error)
        if choice.is_final:  # final_answer with bad arguments
            return ToolStep(name, choice.arguments, 'Error: final_answer needs {"answer": "<text>"}',
                            error="final_answer without an answer")
        key = _key(choice)
        if key in previous:
            return ToolStep(name, choice.arguments, _REPEAT_OK if previous[key][0] else _REPEAT, error="repeated call")
        target = next(t for t in tools if t.name == name)
        outcome = target.call(choice.arguments)
        previous[key] = (outcome.ok, outcome.observation)
        return ToolStep(name, choice.arguments, outcome.observation, error=None if outcome.ok else outcome.error,
                        tool_s=outcome.duration_s)

    def _emit(self, kind: str, step: ToolStep) -> None:
        if self.on_event is not None:
            self.on_event(kind, step)


def _key(choice: Choice) -> tuple[str, str]:
    return (choice.tool or "", json.dumps(choice.arguments, sort_keys=True, default=str))
