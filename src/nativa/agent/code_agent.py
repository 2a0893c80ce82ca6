"""The self-correcting loop: the model writes Python, the sandbox runs it against the evidence, repeat.

`CodeAgent._loop` is the whole algorithm, kept in one readable method. Attempt 1 is one greedy answer, the
plain call every user would make. Each later attempt draws several candidates at once (one prompt
evaluation, several samples) with the best failure so far in view. Every candidate runs in the sandbox
against all the evidence there is (verify.py): the caller's tests, the task's examples, and, when the task
came with neither, tests the model wrote for it. The agent keeps the best candidate of all it has seen,
and stops once that one passes, at `max_attempts`, or when the same failure comes back twice after one try
with the other strategy. The result says what its success rests on (`verified_by`).

With a `reviewer` (`nativa.review`), each model-written candidate is reviewed just before it runs: a
rejected one never reaches the sandbox and its reason is the model's next observation; with nobody to
ask the run stops (`review_unavailable`); a server's reviewer defers, and the run pauses with a JSON
checkpoint (`awaiting_approval`) that `resume` continues once a person answered (checkpoint.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from nativa import tracing
from nativa.agent import cascade, checkpoint, verify
from nativa.agent.checkpoint import Drawn, RunState
from nativa.agent.extract import extract_code
from nativa.agent.harness import Suite, suite_from_checks, suite_from_tests
from nativa.agent.judge import judge
from nativa.agent.result import AgentResult, Attempt, AwaitingApproval, StopReason, Strategy
from nativa.agent.review_gate import ReviewGate, refusal
from nativa.agent.task import TaskContext
from nativa.agent.testgen import Interface, interface_of, parse_tests, root_function
from nativa.config import Settings
from nativa.errors import BadInputError
from nativa.models.base import ChatModel, Completion, GenerationOptions, Message
from nativa.models.cascade import CascadeModel
from nativa.models.cost import cost_of, metered
from nativa.models.sensitive import privacy_scope
from nativa.models.traced import traced_complete, traced_complete_many
from nativa.prompts import Prompt, load_prompt
from nativa.review.approvals import Answer
from nativa.sandbox.protocol import SandboxLike

EventFn = Callable[[str, Attempt], None]
GenerateTests = str  # "auto" (only when the task has no other evidence) | "never"


class CodeAgent:
    """Writes, runs and repairs code until the evidence says it works, and says what that evidence was.

    It exists so that "solved" means something: every success rests on tests (the caller's, the task's own
    examples, or tests the model wrote first), and the code it returns is the candidate the evidence
    supports best, not merely the last one the model wrote.
    """

    def __init__(
        self,
        model: ChatModel,
        sandbox: SandboxLike,
        *,
        max_attempts: int = 3,
        candidates: int = 4,
        generate_tests: GenerateTests = "auto",
        max_tokens: int = 512,
        temperature: float = 0.0,
        retry_temperature: float = 0.7,
        timeout_s: float = 10.0,
        memory_mb: int = 512,
        settings: Settings | None = None,
        on_event: EventFn | None = None,
        review: ReviewGate | None = None,
        small_attempts: int | None = None,
    ) -> None:
        if max_attempts < 1:
            raise BadInputError(f"max_attempts must be >= 1, got {max_attempts}")
        if candidates < 1:
            raise BadInputError(f"candidates must be >= 1, got {candidates}")
        if generate_tests not in ("auto", "never"):
            raise BadInputError(f"generate_tests={generate_tests!r} is invalid: use 'auto' or 'never'")
        self.model = model
        self.sandbox = sandbox
        self.max_attempts = max_attempts
        self.candidates = candidates
        self.generate_tests = generate_tests
        self.options = GenerationOptions(max_tokens=max_tokens, temperature=temperature)
        # A small model asked again at temperature 0 writes the same code again; later attempts sample
        # (seeded by the attempt number, so runs stay repeatable) to get different candidates.
        self.retry_temperature = retry_temperature
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.settings = settings
        self.on_event = on_event
        self.review = review  # reviews each model-written candidate before it runs (None: no review)
        # A cascade's first stage makes this many attempts before the next takes over; few, since the
        # point of a cascade is to spend less compute on what the small model can do.
        self.small_attempts = small_attempts or (settings.cascade_small_attempts if settings else 1)
        if self.small_attempts < 1:
            raise BadInputError(f"small_attempts must be >= 1, got {self.small_attempts}")

    # -- entry points ------------------------------------------------------------------------------
    def solve(self, task: str, tests: str | None = None, *, entry_point: str | None = None,
              context: str | None = None, local_only: bool = False) -> AgentResult:
        """Write code for a natural-language task, or complete a function stub (signature + docstring).

        `context` (what came before in a session) is shown to the model, never read as the task itself;
        `local_only` keeps the run off remote models (a cascade's `openai:` stages)."""
        if not task or not task.strip():
            raise BadInputError("task is empty; describe what the code should do")
        run = self._start(TaskContext.from_task(task, tests, entry_point, context=context), "generate")
        run.local_only = ["request"] if local_only else []
        return self._loop(run, self.review)

    def fix(self, code: str, task: str | None = None, tests: str | None = None, *,
            context: str | None = None, local_only: bool = False) -> AgentResult:
        """Repair given code: run it first, and ask the model only if it fails."""
        if not code or not code.strip():
            raise BadInputError("code to fix is empty")
        run = self._start(TaskContext.from_task(task or "", tests, context=context), "given", code)
        run.local_only = ["request"] if local_only else []
        return self._loop(run, self.review)

    def resume(self, saved: dict[str, Any], answer: Answer) -> AgentResult:
        """Go on with a run that paused for approval (`result.pending.checkpoint`), now that a person answered.

        The answer goes to the review of the candidate the person was shown (approved: it runs, once;
        rejected: its reason is the model's next observation); the loop then continues as it would have."""
        if self.review is None:
            raise BadInputError("resume needs the agent's reviewer: a paused run is resumed with review on")
        state, pending_hash = checkpoint.load(saved, self.model.name)
        return self._loop(state, self.review.answered(pending_hash, answer))

    def _start(self, ctx: TaskContext, first: Strategy, given: str | None = None,
               result: AgentResult | None = None) -> RunState:
        result = result or AgentResult(success=False, code=None, task=ctx.text or None, tests=ctx.tests,
                                       checks=[f"{c.expr} == {c.expected}" for c in ctx.checks])
        return RunState(ctx=ctx, first=first, given=given, result=result,
                        suite=suite_from_tests(ctx.tests, "user") + suite_from_checks(ctx.checks), strategy=first,
                        number=0 if first == "given" else 1)  # running the caller's code is not a model attempt

    # -- the loop ----------------------------------------------------------------------------------
    def _loop(self, run: RunState, gate: ReviewGate | None) -> AgentResult:
        """The run on one model, or on a cascade's stages in turn while the evidence says to hand over."""
        start = time.perf_counter()
        result = run.result
        chain = self.model if isinstance(self.model, CascadeModel) else None
        with metered() as meter, privacy_scope() as scope, \
                tracing.agent_span("code_agent", model=self.model.name, provider=self.model.provider) as run_span:
            for reason in run.local_only:
                scope.mark(reason)
            result.trace_id = run_span.trace_id
            privacy: list[str] = []
            while True:
                since = len(result.attempts)
                model = chain.stage(run.stage) if chain is not None else self.model
                budget = self.small_attempts if chain is not None and run.stage == 0 else self.max_attempts
                self._attempts(run, gate, model, budget)
                handover = cascade.handover(chain, run, result.attempts[since:], privacy, self._start) \
                    if chain is not None else None
                if handover is None:
                    break
                run = handover
            if chain is not None:
                if result.stop_reason != "awaiting_approval":
                    chain.note_answer(run.stage)
                cascade.record(run_span, chain, run.stage, result.escalations, privacy)
            result.answered_by = chain.stages[run.stage] if chain is not None else self.model.name
            run_span.set_attribute("nativa.agent.success", result.success)
            run_span.set_attribute("nativa.agent.attempts", len(result.attempts))
            if result.verified_by:
                run_span.set_attribute("nativa.agent.verified_by", result.verified_by)
                run_span.set_attribute("nativa.agent.verification", result.verification)
            if result.stop_reason in ("awaiting_approval", "review_unavailable"):
                run_span.set_attribute("nativa.agent.stop_reason", result.stop_reason)
        spent = cost_of(self.model, meter, self.settings.model_prices if self.settings else None)
        result.cost = result.cost + spent if result.cost is not None else spent  # a resumed run adds its part
        if result.pending is not None and result.cost is not None:  # so the resumed run's cost includes this part
            result.pending.checkpoint["result"]["cost"] = result.cost.to_dict()
        result.wall_s += time.perf_counter() - start
        return result

    def _attempts(self, run: RunState, gate: ReviewGate | None, model: ChatModel, max_attempts: int) -> None:
        """Up to `max_attempts` attempts with `model`, until the evidence passes or the loop must stop."""
        result = run.result
        # Measured on HumanEval, the 0.5B model shown its failed code copies it: repair fixed nothing
        # there, starting over did (docs/benchmarks.md). So `solve` starts over after a failure.
        while run.number <= max_attempts:
            attempt, drawn = run.paused or (Attempt(number=run.number, strategy=run.strategy, code=None), None)
            run.paused = None
            started = time.perf_counter()
            attempt.model = model.name
            if drawn is None:
                self._emit("attempt_start", attempt)
            with tracing.attempt_span(attempt.number, {"nativa.attempt.strategy": attempt.strategy}):
                if drawn is None:  # a resumed attempt has its candidates already
                    drawn = self._draw(attempt.number, attempt.strategy, run.ctx, run.previous, run.given,
                                       attempt, model)
                    self._emit("model_done", attempt)
                    if result.generated_tests is None:
                        run.suite, run.target = self._ensure_suite(run.ctx, run.suite, drawn, result, attempt,
                                                                   model)
                stop = self._run_candidates(run, drawn, gate, given=attempt.strategy == "given")
                judged = judge(attempt, drawn, run.pool, run.suite, result) if stop != "awaiting_approval" \
                    else None
            attempt.duration_s += time.perf_counter() - started
            if judged is None:  # a person must answer first: keep everything needed to go on
                run.paused = (attempt, drawn)
                self._pause(run, result)
                break
            result.attempts.append(attempt)
            self._emit("run_done", attempt)
            if judged.passed:
                result.success, result.stop_reason = True, "passed"
                break
            if stop is not None:  # nobody could be asked: fail closed
                result.stop_reason = stop
                result.stop_message = next(refusal(d.review) for d in drawn
                                           if d.review is not None and d.review.status == "unavailable")
                break
            repeated = run.previous is not None and attempt.error_signature == run.previous.error_signature
            if repeated and run.switched:
                result.stop_reason = "repeated_error"
                break
            if repeated:  # the same failure twice: one try with the other strategy, then stop
                run.strategy, run.switched = ("repair" if run.usual == "regenerate" else "regenerate"), True
            else:
                run.strategy = run.usual
            run.previous = attempt
            run.number += 1

    def _run_candidates(self, run: RunState, drawn: list[Drawn], gate: ReviewGate | None, *,
                        given: bool) -> StopReason | None:
        """Review each model-written candidate just before it runs; run what the review lets through.

        Stops at the first candidate a person must answer for later (`awaiting_approval`) or that nobody
        could be asked about (`review_unavailable`); the caller's own code (`fix`) is not reviewed."""
        for d in drawn:
            if not d.waiting:
                continue
            assert d.code is not None
            if gate is not None and not given:
                d.review = gate.code(d.code, previous=run.previous.code if run.previous else None)
                if d.review.status == "pending":
                    return "awaiting_approval"
                if d.review.status == "unavailable":
                    return "review_unavailable"
                if not d.review.approved:
                    continue  # rejected: it never reaches the sandbox
            d.evaluation = verify.evaluate(d.code, run.suite, self.sandbox, timeout_s=self.timeout_s,
                                           memory_mb=self.memory_mb, alias=_alias(run.target, d.code))
            run.pool.append(d.evaluation)
        return None

    def _pause(self, run: RunState, result: AgentResult) -> None:
        assert run.paused is not None
        held = next(d for d in run.paused[1] if d.review is not None and d.review.status == "pending")
        assert held.code is not None and held.review is not None
        result.stop_reason, result.stop_message = "awaiting_approval", held.review.reason
        result.pending = AwaitingApproval(held.code, held.review, run.paused[0].number,
                                          checkpoint.save(run, held.review.code_hash))

    # -- model -------------------------------------------------------------------------------------
    def _draw(self, number: int, strategy: Strategy, ctx: TaskContext, previous: Attempt | None,
              given: str | None, attempt: Attempt, model: ChatModel) -> list[Drawn]:
        """The candidates of one attempt: the caller's code, one greedy answer, or several samples."""
        if strategy == "given":
            assert given is not None
            return [Drawn(given, Completion("", "stop", 0, 0, 0.0, model.name))]
        prompt = self._prompt(strategy, ctx, previous)
        # Completing a function stub starts as the plain call a user would make, word for word: measured on
        # HumanEval, nativa's own system prompt made the 1.5B model's first answer worse than that call's.
        system = "complete_function_system" if strategy == "generate" and ctx.stub else "code_system"
        messages = [Message("system", load_prompt(system).text.strip()),
                    Message("user", prompt.render(**self._values(ctx, previous)))]
        options = self.options
        n = 1
        # A first model attempt (also `fix`'s first) is the greedy answer; later ones sample several.
        if attempt.number >= 2 and self.retry_temperature > options.temperature:
            # Starting over must not land on the same answer again: sample hotter for it.
            hotter = min(1.0, self.retry_temperature + 0.3) if strategy == "regenerate" else self.retry_temperature
            options = replace(options, temperature=hotter, seed=attempt.number)
            n = self.candidates
        started = time.perf_counter()
        completions = self._complete(messages, options, n, prompt, model)
        attempt.model_s = time.perf_counter() - started
        attempt.drafts = len(completions)
        attempt.input_tokens = sum(c.input_tokens for c in completions)
        attempt.output_tokens = sum(c.output_tokens for c in completions)
        out = []
        for c in completions:
            code = extract_code(c.text, ctx.entry_point)
            out.append(Drawn(ctx.complete(code) if code is not None else None, c))
        return out

    def _complete(self, messages: list[Message], options: GenerationOptions, n: int,
                  prompt: Prompt, model: ChatModel) -> list[Completion]:
        """n answers to one prompt; sample i is seeded `seed + i`. Several are drawn together in one call (the
        embedded model evaluates the prompt once and advances every sample in the same decode step)."""
        if n == 1:
            return [traced_complete(model, messages, options, prompt_file=prompt.file,
                                    prompt_hash=prompt.hash, settings=self.settings)]
        return traced_complete_many(model, messages, options, n, prompt_file=prompt.file,
                                    prompt_hash=prompt.hash, settings=self.settings)

    def _prompt(self, strategy: Strategy, ctx: TaskContext, previous: Attempt | None) -> Prompt:
        if previous is not None and previous.outcome == "rejected":
            return load_prompt("rejected")  # the code never ran: what the reviewer refused, and why
        if strategy == "generate":
            return load_prompt("complete_function" if ctx.stub else "solve")
        if strategy == "regenerate":
            return load_prompt("regenerate")
        return load_prompt("repair" if ctx.text and previous and previous.strategy != "given" else "fix")

    def _values(self, ctx: TaskContext, previous: Attempt | None) -> dict[str, str]:
        return {"task": ctx.text, "code": (previous.code or "") if previous else "",
                "observation": (previous.observation or "") if previous else "",
                "task_line": f"\nThe code should: {ctx.text}\n" if ctx.text else "",
                "tests_block": _tests_block(ctx),
                "context_block": f"{ctx.context.strip()}\n\n" if ctx.context and ctx.context.strip() else ""}

    # -- evidence ----------------------------------------------------------------------------------
    def _ensure_suite(self, ctx: TaskContext, suite: Suite, drawn: list[Drawn], result: AgentResult,
                      attempt: Attempt, model: ChatModel) -> tuple[Suite, str | None]:
        """With no tests and no examples, ask the model once for tests, about the first candidate's interface.

        Returns the suite and, when the task named no function, the one the generated tests call."""
        if suite.tests or self.generate_tests == "never" or not ctx.text:
            result.generated_tests = ""
            return suite, None
        code = next((d.code for d in drawn if d.code is not None), None)
        if code is None:
            return suite, None
        interface = interface_of(ctx.text, code, ctx.entry_point)
        tests = self._write_tests(ctx, interface, code, attempt, model)
        result.generated_tests = tests or ""
        attempt.wrote_tests = tests
        target = interface.name if ctx.entry_point is None and interface.kind == "function" else None
        return (suite + suite_from_tests(tests, "generated") if tests else suite), target

    def _write_tests(self, ctx: TaskContext, interface: Interface, code: str, attempt: Attempt,
                     model: ChatModel) -> str | None:
        name = "write_tests_function" if interface.kind == "function" else "write_tests_program"
        prompt = load_prompt(name)
        messages = [Message("user", prompt.render(task=ctx.text, signature=interface.signature or "",
                                                  n=str(5)))]
        started = time.perf_counter()
        options = GenerationOptions(max_tokens=min(self.options.max_tokens, 384), temperature=0.0)
        completion = self._complete(messages, options, 1, prompt, model)[0]
        attempt.model_s += time.perf_counter() - started
        attempt.input_tokens += completion.input_tokens
        attempt.output_tokens += completion.output_tokens
        return parse_tests(completion.text, interface, _defined(code))

    def _emit(self, kind: str, attempt: Attempt) -> None:
        if self.on_event is not None:
            self.on_event(kind, attempt)


def _tests_block(ctx: TaskContext) -> str:
    """The caller's tests, in every prompt: the model must see the names and calls it is tested on."""
    if not ctx.tests:
        return ""
    names = ", ".join(ctx.called)
    call = f"\nUse exactly the names the tests call: {names}.\n" if names else ""
    return f"\nYour code must pass these tests:\n```python\n{ctx.tests.strip()}\n```\n{call}"


def _defined(code: str) -> set[str]:
    import ast

    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}


def _alias(target: str | None, code: str) -> tuple[str, str] | None:
    """When the task fixed no name, a sampled candidate may call its function differently from the one the
    generated tests were written for (`target`): let the tests reach it under the name they use. Never for
    a name the caller's tests or the task fixed: that name is part of what is asked."""
    if target is None:
        return None
    import ast

    try:
        root = root_function(ast.parse(code))
    except SyntaxError:
        return None
    return (target, root) if root and root != target else None
