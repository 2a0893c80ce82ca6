"""When an agent on one stage of a cascade hands the work to the next: on evidence, never on a guess.

Code agent: the stage's attempts failed the visible checks or tests, produced no code, or passed only by
running (nothing verified them). Tool agent: a failed or repeated tool call, a reply that failed its JSON
schema, no answer, or an answer whose numbers no tool result contains (a repeat of a call that worked is
not a failure). What the next stage is shown (what happened when the small stage's best code ran, not the
code itself) and the span attributes are made here, so both agents record the same things under the same
names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from nativa.agent.checkpoint import RunState
from nativa.agent.result import AgentResult, Attempt, Escalation, Strategy, best_attempt
from nativa.agent.task import TaskContext
from nativa.agent.tool_result import REPEAT_OK, ToolAgentResult, ToolStep
from nativa.models.cascade import CascadeModel
from nativa.tracing import AgentSpan

_NO_ESCALATION = ("awaiting_approval", "review_unavailable")  # a person, not the model, holds the run
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")


def code_reason(result: AgentResult, attempts: Sequence[Attempt]) -> tuple[str, str] | None:
    """Why the code agent's stage must hand over, as (reason, detail); None when its work stands."""
    if result.stop_reason in _NO_ESCALATION:
        return None
    if result.success and result.verified_by != "ran_only":
        return None
    if result.success:
        return "not_verified", "the code ran without error, but no test or check verified it"
    best = best_attempt(list(attempts))
    if best is None or best.code is None:
        return "no_code", "no attempt produced code"
    if best.failed_checks:
        return "checks_failed", f"the best attempt failed {best.failed_checks} check(s)"
    return "run_failed", f"the best attempt failed: {best.error_type or best.outcome}"


def observation_context(attempts: Sequence[Attempt], earlier: str | None) -> tuple[str, str]:
    """What the next stage sees of this one: what happened when its best code ran (shown as context, the way
    a session's history is, so every prompt of the next stage carries it). Not the code itself: measured
    here, a model shown failed code tends to copy it (docs/benchmarks.md), and the observation names the
    failing check. Returns the context and the text the privacy check must see."""
    best = best_attempt(list(attempts))
    seen = (best.observation or best.error_message or "") if best is not None else ""
    note = "A smaller model tried this task first and got it wrong."
    if seen:
        note += f" What happened when its code ran:\n{seen.strip()[:2000]}\n"
    note += "Write your own correct solution; do not make the same mistake."
    return (f"{earlier.strip()}\n\n{note}" if earlier and earlier.strip() else note), seen


StartFn = Callable[[TaskContext, Strategy, "str | None", AgentResult], RunState]


def handover(chain: CascadeModel, run: RunState, attempts: list[Attempt], privacy: list[str],
             start: StartFn) -> RunState | None:
    """The next stage's run of the code agent, from the task with this stage's best observation in view;
    None when this stage's work stands, no stage is left, or none left may see the work (it stays local:
    the stages passed over for that are added to `privacy`)."""
    why = code_reason(run.result, attempts)
    if why is None or run.stage + 1 >= len(chain.stages):
        return None
    context, shown = observation_context(attempts, run.ctx.context)
    nxt, skipped = chain.next_stage(run.stage, [run.ctx.text, run.ctx.tests or "", shown, run.given or "",
                                                run.ctx.context or ""])
    privacy += skipped
    if nxt is None:
        return None
    result = run.result
    result.escalations.append(Escalation(chain.stages[run.stage], chain.stages[nxt], *why))
    result.success, result.stop_reason, result.generated_tests = False, "max_attempts", None
    new = start(replace(run.ctx, context=context), run.first, run.given, result)
    new.stage, new.local_only = nxt, run.local_only
    return new


def tool_reason(result: ToolAgentResult, tool_names: Sequence[str]) -> tuple[str, str] | None:
    """Why the tool agent's stage must hand over, as (reason, detail); None when its answer stands."""
    if result.stop_reason in (*_NO_ESCALATION, "clarify"):
        return None
    if result.stop_reason == "model_error":
        return "model_error", "the model failed to answer"
    for step in result.steps:
        kind = _failure(step, tool_names)
        if kind is not None:
            return kind, f"{step.tool}: {(step.error or '')[:200]}"
    if result.answer is None:
        return "no_answer", f"the run ended without an answer ({result.stop_reason})"
    if result.stop_reason != "direct" and not grounded(result.answer, result.steps, result.question):
        return "ungrounded", "the answer states a number no tool result contains"
    return None


def _failure(step: ToolStep, tool_names: Sequence[str]) -> str | None:
    if step.error is None or step.error.startswith("not run: review"):
        return None  # a reviewer's refusal says nothing about the model
    if step.error == "repeated call":
        # A repeat of a call that worked is answered from its result (measured on `bench tools`: the 0.5B
        # model ends nearly every task this way, so counting it escalated 53 of 53); a repeated failure counts.
        return None if step.observation == REPEAT_OK else "repeated_call"
    if step.tool not in tool_names or step.error == "final_answer without an answer":
        return "invalid_reply"  # the reply failed its JSON schema (no such tool, not an object, bad arguments)
    return "tool_error"


def grounded(answer: str, steps: Sequence[ToolStep], question: str) -> bool:
    """An answer rests on the tool results: at least one call worked, and every number it states (that the
    question did not state) appears in a result, as written or rounded."""
    results = [s.observation for s in steps if s.error is None]
    if not results:
        return False
    seen = [v for text in results for v in _numbers(text)] + _numbers(question)
    for value, decimals in _numbers_with_places(answer):
        tolerance = 0.5 * 10 ** -decimals + 1e-9
        if not any(abs(value - v) <= tolerance or abs(value - v * 100) <= tolerance for v in seen):
            return False
    return True


def _numbers(text: str) -> list[float]:
    return [v for v, _ in _numbers_with_places(text)]


def _numbers_with_places(text: str) -> list[tuple[float, int]]:
    out = []
    for m in _NUMBER.finditer(text):
        raw = m.group().replace(",", "")
        try:
            out.append((float(raw), len(raw.split(".", 1)[1]) if "." in raw else 0))
        except ValueError:
            continue
    return out


def record(span: AgentSpan, chain: CascadeModel, answered: int, escalations: Sequence[Escalation],
           privacy: Sequence[str]) -> None:
    """The cascade's decisions on the agent span: whether it escalated, why, and which stage answered."""
    chain.record(span, answered, [e.reason for e in escalations], privacy, escalated=bool(escalations))
