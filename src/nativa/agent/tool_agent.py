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

With a `review` gate (`nativa.review`), every call is reviewed before it runs: a rejected call becomes a
failed tool result carrying the reviewer's reason, nobody to ask stops the run (`review_unavailable`),
and a server's deferred review pauses it with a JSON checkpoint that `resume` continues later.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, Self

from nativa import tracing
from nativa.agent import cascade
from nativa.agent.result import AwaitingApproval, Escalation, ReviewNote
from nativa.agent.review_gate import ReviewGate, refusal
from nativa.agent.tool_checkpoint import Talk as _Talk
from nativa.agent.tool_checkpoint import load as _load
from nativa.agent.tool_checkpoint import save as _save
from nativa.agent.tool_result import REPEAT_FAILED as _REPEAT
from nativa.agent.tool_result import REPEAT_OK as _REPEAT_OK
from nativa.agent.tool_result import StopReason, ToolAgentResult, ToolStep
from nativa.config import Settings
from nativa.errors import BadInputError, NativaError
from nativa.intent.model import TOOL_KINDS, Intent
from nativa.intent.parser import IntentContext, IntentParser
from nativa.models.base import ChatModel, Completion, GenerationOptions, Message
from nativa.models.cascade import CascadeModel
from nativa.models.cost import cost_of, metered
from nativa.models.sensitive import mark_local_only, privacy_scope
from nativa.models.traced import traced_complete
from nativa.prompts import Prompt, load_prompt
from nativa.review.approvals import Answer
from nativa.tools.base import Tool
from nativa.tools.choice import FINAL, Choice, choice_schema, parse_choice

EventFn = Callable[[str, "ToolStep"], None]
_OBSERVATION_CHARS = 3000


class ToolAgent:
    """Answers questions from data it must look up (a database, a web API, a computation) rather than from what
    the model remembers: the model may only name a real tool with well-formed arguments, every result or error
    is fed back, and the run ends with the best answer the results allow or none at all, never a made-up one.
    """

    def __init__(self, model: ChatModel, tools: Sequence[Tool], max_steps: int = 6, settings: Settings | None = None,
                 *, max_tokens: int = 256, intent_parser: IntentParser | None = None,
                 on_event: EventFn | None = None, review: ReviewGate | None = None) -> None:
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
        self.review = review  # reviews each tool call before it runs (None: no review)

    def run(self, question: str, *, intent: Intent | None = None, local_only: bool = False) -> ToolAgentResult:
        """Answer `question` with the tools; an `intent` (given, or parsed by `intent_parser`) may narrow them,
        run a direct call, or ask back instead. `local_only` keeps the run off remote models."""
        if not question or not question.strip():
            raise BadInputError("the question is empty; ask something the tools can answer")
        result = ToolAgentResult(answer=None, question=question.strip(), intent=intent, model=self.model.name)
        result.local_only = ["request"] if local_only else []
        return self._loop(result, None, self.review)

    def resume(self, saved: dict[str, Any], answer: Answer) -> ToolAgentResult:
        """Go on with a run that paused for approval (`result.pending.checkpoint`), now that a person answered:
        the call they were shown runs (approved) or fails with their reason (rejected), then the loop goes on."""
        if self.review is None:
            raise BadInputError("resume needs the agent's reviewer: a paused run is resumed with review on")
        result, talk, pending_hash = _load(saved, self.model.name)
        return self._loop(result, talk, self.review.answered(pending_hash, answer))

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
    def _loop(self, result: ToolAgentResult, talk: _Talk | None, gate: ReviewGate | None) -> ToolAgentResult:
        start = time.perf_counter()
        question, intent = result.question, result.intent
        chain = self.model if isinstance(self.model, CascadeModel) else None
        with metered() as meter, privacy_scope() as scope, \
                tracing.agent_span("tool_agent", model=self.model.name, provider=self.model.provider) as span:
            for reason in result.local_only:
                scope.mark(reason)
            result.trace_id = span.trace_id
            if talk is None and intent is None and self.intent_parser is not None:
                intent = result.intent = self.intent_parser.parse(question, IntentContext.from_tools(self.tools))
                span.set_attribute("nativa.intent.kind", intent.kind)
            tools = self._tools_for(intent)
            if talk is not None:  # a resumed run: act on the call a person answered, then go on
                talk.model = chain.stage(talk.stage) if chain is not None else self.model
                self._talk(question, tools, talk, result, gate)
                result.answered_by = chain.stages[talk.stage] if chain is not None else self.model.name
            elif intent is not None and intent.needs_clarification:
                result.stop_reason, result.clarification = "clarify", intent.question
            elif intent is not None and intent.direct and self._direct(intent, tools, result, gate):
                pass  # answered directly, or the direct call's review stopped the run
            else:
                self._stages(question, tools, result, gate, chain, span)
            span.set_attribute("nativa.agent.steps", len(result.steps))
            span.set_attribute("nativa.agent.stop_reason", result.stop_reason)
            span.set_attribute("nativa.agent.answered", result.answer is not None)
            result.answered_by = result.answered_by or (chain.stages[0] if chain is not None else self.model.name)
        spent = cost_of(self.model, meter, self.settings.model_prices if self.settings else None)
        result.cost = result.cost + spent if result.cost is not None else spent  # a resumed run adds its part
        if result.pending is not None and result.cost is not None:  # so the resumed run's cost includes this part
            result.pending.checkpoint["result"]["cost"] = result.cost.to_dict()
        result.wall_s += time.perf_counter() - start
        return result

    def _stages(self, question: str, tools: list[Tool], result: ToolAgentResult, gate: ReviewGate | None,
                chain: CascadeModel | None, span: Any) -> None:
        """The conversation on one model; on a cascade, again on the next stage (from the question) while
        the evidence says this stage's answer does not stand. Steps add up; the latest answer is kept."""
        stage, privacy, names = 0, [], [t.name for t in tools]
        while True:
            model = chain.stage(stage) if chain is not None else self.model
            part = result if stage == 0 else ToolAgentResult(answer=None, question=question, intent=result.intent,
                                                             model=result.model)
            self._talk(question, tools, _Talk([Message("system", self._system(tools)), Message("user", question)],
                                              model=model, stage=stage), part, gate)
            if part is not result:
                _absorb(result, part)
            if chain is None:
                return
            if part.answer is not None or result.answer is None:  # the same rule `_absorb` keeps answers by
                result.answered_by = chain.stages[stage]
            why = cascade.tool_reason(part, names)
            nxt, skipped = chain.next_stage(stage, [question, self._system(tools)]) if why else (None, [])
            privacy += skipped
            if why is None or nxt is None or result.stop_reason in ("awaiting_approval", "review_unavailable"):
                break
            result.escalations.append(Escalation(chain.stages[stage], chain.stages[nxt], *why))
            stage = nxt
        answered = chain.stages.index(result.answered_by) if result.answered_by in chain.stages else 0
        chain.note_answer(answered)
        cascade.record(span, chain, answered, result.escalations, privacy)

    def _talk(self, question: str, tools: list[Tool], talk: _Talk, result: ToolAgentResult,
              gate: ReviewGate | None) -> None:
        """Ask the model for a call, run it, show it the result; until it answers or must stop."""
        while True:
            if talk.pending is not None:  # resumed: the call a person answered comes before the model
                (choice, completion, model_s), talk.pending = talk.pending, None
            else:
                forced = self._forced_end(result.steps, talk.restarted_at)  # set: this turn must answer
                final_only = forced is not None
                result.stop_reason = forced or "max_steps"
                if final_only and not any(s.error is None for s in result.steps):
                    break  # no result to answer from: no answer beats a made-up one
                if final_only:
                    latest = next(s.observation for s in reversed(result.steps) if s.error is None)
                    talk.messages.append(Message("user", load_prompt("tool_final").render(
                        question=question, observation=latest[:_OBSERVATION_CHARS])))
                # No answer before the first tool call: small models otherwise answer from thin air.
                final = final_only or bool(result.steps) or not tools
                try:
                    choice, completion, model_s = self._choose(talk.messages, [] if final_only else tools, result,
                                                               final=final, model=talk.model)
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
            step = self._act(choice, tools, talk.previous, gate)
            step.model_s = model_s
            step.input_tokens, step.output_tokens = completion.input_tokens, completion.output_tokens
            if self._stopped_by_review(step, result, talk, (choice, completion, model_s)):
                break
            result.steps.append(step)
            self._emit("step", step)
            if step.observation == _REPEAT_OK:
                continue  # the next turn is the final answer, with that result restated
            if step.observation == _REPEAT and talk.restarted_at is None:
                # Greedy decoding repeats itself in the same context: start over from the question,
                # with the failed call and its error in view, like the code agent's regenerate.
                talk.restarted_at = len(result.steps)
                talk.messages = [talk.messages[0], Message("user", load_prompt("tool_retry").render(
                    question=question, call=completion.text.strip(),
                    observation=talk.previous[_key(choice)][1][:_OBSERVATION_CHARS]))]
                continue
            feedback = "tool_error" if step.error else "tool_observation"
            if step.review is not None and not step.review.approved:
                feedback = "tool_rejected"
            talk.messages.append(Message("assistant", completion.text.strip()))
            talk.messages.append(Message("user", load_prompt(feedback).render(
                tool=step.tool, observation=step.observation[:_OBSERVATION_CHARS], question=question)))

    def _stopped_by_review(self, step: ToolStep, result: ToolAgentResult, talk: _Talk,
                           call: tuple[Choice, Completion, float]) -> bool:
        """A call a person must answer later pauses the run; one nobody can be asked about ends it."""
        note = step.review
        if note is None or note.status not in ("pending", "unavailable"):
            return False
        if note.status == "unavailable":
            result.steps.append(step)
            self._emit("step", step)
            result.stop_reason, result.stop_message = "review_unavailable", note.reason
            return True
        talk.pending = call
        result.stop_reason, result.stop_message = "awaiting_approval", note.reason
        shown = json.dumps({"tool": step.tool, "arguments": step.arguments}, indent=2, ensure_ascii=False, default=str)
        result.pending = AwaitingApproval(shown, note, len(result.steps) + 1, _save(result, talk, note.code_hash))
        return True

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

    def _direct(self, intent: Intent, tools: list[Tool], result: ToolAgentResult, gate: ReviewGate | None) -> bool:
        """Run the call an intent fully specifies; on failure the model takes over with the error in view.

        True when the run is over: answered, or stopped by its review (a call that waits for a person is
        the resumed conversation's first call)."""
        target = next(iter(tools), None)
        if target is None or len(tools) != 1:
            return False
        arguments = dict(intent.arguments)
        note = gate.tool_call(target.name, arguments) if gate is not None else None
        if note is not None and not note.approved:
            step = _refused(target.name, arguments, note)
            text = json.dumps({"tool": target.name, "arguments": arguments}, default=str)
            talk = _Talk([Message("system", self._system(tools)), Message("user", result.question)])
            call = (Choice(target.name, arguments), Completion(text, "stop", 0, 0, 0.0, self.model.name), 0.0)
            if self._stopped_by_review(step, result, talk, call):
                return True
            result.steps.append(step)
            self._emit("step", step)
            return False
        outcome = target.call(arguments)
        if getattr(target, "local_only", False):
            mark_local_only(f"tool result of {target.name}")
        step = ToolStep(target.name, arguments, outcome.observation, error=None if outcome.ok else outcome.error,
                        tool_s=outcome.duration_s, review=note)
        result.steps.append(step)
        self._emit("step", step)
        if outcome.ok:
            result.answer, result.stop_reason = outcome.output, "direct"
        return outcome.ok

    def _system(self, tools: list[Tool]) -> str:
        prompt = load_prompt("tool_system")
        contexts = [c for c in (t.context() for t in tools) if c]
        return prompt.render(tools="\n".join(f"- {t.signature()}" for t in tools), context="\n\n".join(contexts))

    def _choose(self, messages: list[Message], tools: list[Tool], result: ToolAgentResult, *,
                final: bool, model: ChatModel | None = None) -> tuple[Choice, Completion, float]:
        options = GenerationOptions(max_tokens=self.max_tokens, temperature=0.0, json_schema=choice_schema(tools, final=final))
        completion, model_s = self._ask(messages, options, load_prompt("tool_system"), model or self.model)
        result.model_calls += 1
        result.input_tokens += completion.input_tokens
        result.output_tokens += completion.output_tokens
        choice = parse_choice(completion.text, [t.name for t in tools])
        if choice.error is None and completion.finish_reason == "length" and not choice.is_final:
            choice.error = f"the reply was cut off at {self.max_tokens} tokens; make the call shorter"
        return choice, completion, model_s

    def _ask(self, messages: list[Message], options: GenerationOptions, prompt: Prompt,
             model: ChatModel) -> tuple[Completion, float]:
        started = time.perf_counter()
        completion = traced_complete(model, messages, options, prompt_file=prompt.file,
                                     prompt_hash=prompt.hash, settings=self.settings)
        return completion, time.perf_counter() - started

    def _act(self, choice: Choice, tools: list[Tool], previous: dict[tuple[str, str], tuple[bool, str]],
             gate: ReviewGate | None = None) -> ToolStep:
        """Run the chosen tool (once its review lets it), or turn an unusable choice into an error observation."""
        name = choice.tool or "(invalid)"
        if choice.error is not None:
            return ToolStep(name, choice.arguments, f"Error: {choice.error}", error=choice.error)
        if choice.is_final:  # final_answer with bad arguments
            return ToolStep(name, choice.arguments, 'Error: final_answer needs {"answer": "<text>"}',
                            error="final_answer without an answer")
        key = _key(choice)
        if key in previous:
            return ToolStep(name, choice.arguments, _REPEAT_OK if previous[key][0] else _REPEAT, error="repeated call")
        note = gate.tool_call(name, choice.arguments) if gate is not None else None
        if note is not None and not note.approved:
            step = _refused(name, choice.arguments, note)
            if note.status == "rejected":  # the same call again is refused without asking again
                previous[key] = (False, step.observation)
            return step
        target = next(t for t in tools if t.name == name)
        outcome = target.call(choice.arguments)
        if getattr(target, "local_only", False):  # its results must never reach a remote model
            mark_local_only(f"tool result of {target.name}")
        previous[key] = (outcome.ok, outcome.observation)
        return ToolStep(name, choice.arguments, outcome.observation, error=None if outcome.ok else outcome.error,
                        tool_s=outcome.duration_s, review=note)

    def _emit(self, kind: str, step: ToolStep) -> None:
        if self.on_event is not None:
            self.on_event(kind, step)


def _key(choice: Choice) -> tuple[str, str]:
    return (choice.tool or "", json.dumps(choice.arguments, sort_keys=True, default=str))


def _refused(tool: str, arguments: dict[str, Any], note: ReviewNote) -> ToolStep:
    """The failed tool result of a call the review did not let run (the model reads the reviewer's reason)."""
    observation = refusal(note) if note.status == "rejected" else note.reason
    return ToolStep(tool, arguments, observation, error=f"not run: review {note.status}", review=note)


def _absorb(result: ToolAgentResult, part: ToolAgentResult) -> None:
    """A later stage's run into the whole: its steps and usage add up; its answer replaces an earlier one
    (an earlier answer stays when the later stage gave none, e.g. it had to stay off a remote model)."""
    result.steps += part.steps
    result.model_calls += part.model_calls
    result.input_tokens += part.input_tokens
    result.output_tokens += part.output_tokens
    if part.answer is not None or result.answer is None:
        result.answer, result.stop_reason, result.stop_message = part.answer, part.stop_reason, part.stop_message
        result.pending = part.pending
