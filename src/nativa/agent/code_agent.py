"""The self-correcting loop: the model writes Python, the sandbox runs it against the evidence, repeat.

`CodeAgent._loop` is the whole algorithm, kept in one readable method. Attempt 1 is one greedy answer, the
plain call every user would make. Each later attempt draws several candidates at once (one prompt
evaluation, several samples) with the best failure so far in view. Every candidate runs in the sandbox
against all the evidence there is (verify.py): the caller's tests, the task's examples, and, when the task
came with neither, tests the model wrote for it. The agent keeps the best candidate of all it has seen,
and stops once that one passes, at `max_attempts`, or when the same failure comes back twice after one try
with the other strategy. The result says what its success rests on (`verified_by`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from nativa import tracing
from nativa.agent import verify
from nativa.agent._prompts import Prompt, load_prompt
from nativa.agent.extract import extract_code
from nativa.agent.harness import Suite, suite_from_checks, suite_from_tests
from nativa.agent.result import AgentResult, Attempt, Candidate, Strategy
from nativa.agent.task import TaskContext
from nativa.agent.testgen import Interface, interface_of, parse_tests, root_function
from nativa.config import Settings
from nativa.errors import BadInputError
from nativa.models.base import ChatModel, Completion, GenerationOptions, Message
from nativa.models.traced import traced_complete
from nativa.sandbox.protocol import SandboxLike

EventFn = Callable[[str, Attempt], None]
NO_CODE = "Your reply contained no Python code. Reply with the complete code in one ```python block."
GenerateTests = str  # "auto" (only when the task has no other evidence) | "never"


@dataclass(slots=True)
class _Drawn:
    """A candidate on its way through the loop: what the model wrote and what the sandbox made of it."""

    code: str | None
    completion: Completion
    evaluation: verify.Evaluation | None = None


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

    # -- entry points ------------------------------------------------------------------------------
    def solve(self, task: str, tests: str | None = None, *, entry_point: str | None = None,
              context: str | None = None) -> AgentResult:
        """Write code for a natural-language task, or complete a function stub (signature + docstring).

        `context` (what came before in a session) is shown to the model, never read as the task itself."""
        if not task or not task.strip():
            raise BadInputError("task is empty; describe what the code should do")
        return self._loop(TaskContext.from_task(task, tests, entry_point, context=context), first="generate")

    def fix(self, code: str, task: str | None = None, tests: str | None = None, *,
            context: str | None = None) -> AgentResult:
        """Repair given code: run it first, and ask the model only if it fails."""
        if not code or not code.strip():
            raise BadInputError("code to fix is empty")
        ctx = TaskContext.from_task(task or "", tests, context=context)
        return self._loop(ctx, first="given", given=code)

    # -- the loop ----------------------------------------------------------------------------------
    def _loop(self, ctx: TaskContext, first: Strategy, given: str | None = None) -> AgentResult:
        start = time.perf_counter()
        result = AgentResult(success=False, code=None, task=ctx.text or None, tests=ctx.tests,
                             checks=[f"{c.expr} == {c.expected}" for c in ctx.checks])
        suite = suite_from_tests(ctx.tests, "user") + suite_from_checks(ctx.checks)
        pool: list[verify.Evaluation] = []
        target: str | None = None  # the function generated tests call, when the task named none
        with tracing.agent_span("code_agent", model=self.model.name, provider=self.model.provider) as run_span:
            result.trace_id = run_span.trace_id
            strategy: Strategy = first
            # After a failure, `solve` starts over from the task with the failure in view, and `fix` repairs
            # the code it was given. Measured on HumanEval, the 0.5B model shown its failed code copies it:
            # repair fixed nothing there, starting over did (docs/benchmarks.md).
            usual: Strategy = "regenerate" if first == "generate" else "repair"
            previous: Attempt | None = None
            switched = False
            number = 0 if first == "given" else 1  # running the caller's code is not a model attempt
            while number <= self.max_attempts:
                attempt = Attempt(number=number, strategy=strategy, code=None)
                started = time.perf_counter()
                self._emit("attempt_start", attempt)
                with tracing.attempt_span(number, {"nativa.attempt.strategy": strategy}):
                    drawn = self._draw(number, strategy, ctx, previous, given, attempt)
                    self._emit("model_done", attempt)
                    if result.generated_tests is None:
                        suite, target = self._ensure_suite(ctx, suite, drawn, result, attempt)
                    for d in drawn:
                        if d.code is not None:
                            d.evaluation = verify.evaluate(d.code, suite, self.sandbox, timeout_s=self.timeout_s,
                                                           memory_mb=self.memory_mb, alias=_alias(target, d.code))
                            pool.append(d.evaluation)
                    judged = self._judge(attempt, drawn, pool, suite, result)
                attempt.duration_s = time.perf_counter() - started
                result.attempts.append(attempt)
                self._emit("run_done", attempt)
                if judged.passed:
                    result.success, result.stop_reason = True, "passed"
                    break
                repeated = previous is not None and attempt.error_signature == previous.error_signature
                if repeated and switched:
                    result.stop_reason = "repeated_error"
                    break
                if repeated:  # the same failure twice: one try with the other strategy, then stop
                    strategy, switched = ("repair" if usual == "regenerate" else "regenerate"), True
                else:
                    strategy = usual
                previous = attempt
                number += 1
            run_span.set_attribute("nativa.agent.success", result.success)
            run_span.set_attribute("nativa.agent.attempts", len(result.attempts))
            if result.verified_by:
                run_span.set_attribute("nativa.agent.verified_by", result.verified_by)
                run_span.set_attribute("nativa.agent.verification", result.verification)
        result.wall_s = time.perf_counter() - start
        return result

    def _judge(self, attempt: Attempt, drawn: list[_Drawn], pool: list[verify.Evaluation], suite: Suite,
               result: AgentResult) -> verify.Verdict:
        """Rank everything seen so far, keep the best, and record this attempt's candidates."""
        order = verify.rank(pool, suite) if pool else []
        scores = verify.scores(pool) if pool else []
        kept = pool[order[0]] if order else None
        judged = verify.verdict(kept, pool, suite) if kept else verify.Verdict(False, "ran_only", "no code", {})
        index = {id(ev): i for i, ev in enumerate(pool)}
        mine = sorted(drawn, key=lambda d: order.index(index[id(d.evaluation)]) if d.evaluation else len(pool))
        for d in mine:
            attempt.candidates.append(_candidate(d, suite, pool, scores[index[id(d.evaluation)]]
                                                 if d.evaluation else 0))
        best = mine[0]
        attempt.code = best.code
        attempt.kept_code = kept.code if kept else None
        if best.evaluation is None:
            attempt.outcome, attempt.observation = "no_code", NO_CODE
        else:
            own = verify.verdict(best.evaluation, pool, suite)
            ev = best.evaluation
            attempt.outcome = "passed" if own.passed else "failed"
            attempt.killed_by = ev.run.killed_by
            attempt.stdout = ev.stdout
            attempt.failed_checks = verify.required_failures(ev, suite)
            attempt.sandbox_s = sum(d.evaluation.run.duration_s for d in drawn if d.evaluation)
            if not own.passed:
                attempt.error_type, attempt.error_message = verify.error_of(ev, suite)
                attempt.observation = verify.observe(ev, suite)
        result.code = kept.code if kept else result.code
        result.stdout = kept.stdout if kept else result.stdout
        result.verified_by, result.verification = judged.verified_by, judged.summary
        return judged

    # -- model -------------------------------------------------------------------------------------
    def _draw(self, number: int, strategy: Strategy, ctx: TaskContext, previous: Attempt | None,
              given: str | None, attempt: Attempt) -> list[_Drawn]:
        """The candidates of one attempt: the caller's code, one greedy answer, or several samples."""
        if strategy == "given":
            assert given is not None
            return [_Drawn(given, Completion("", "stop", 0, 0, 0.0, self.model.name))]
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
        completions = self._complete(messages, options, n, prompt)
        attempt.model_s = time.perf_counter() - started
        attempt.drafts = len(completions)
        attempt.input_tokens = sum(c.input_tokens for c in completions)
        attempt.output_tokens = sum(c.output_tokens for c in completions)
        out = []
        for c in completions:
            code = extract_code(c.text, ctx.entry_point)
            out.append(_Drawn(ctx.complete(code) if code is not None else None, c))
        return out

    def _complete(self, messages: list[Message], options: GenerationOptions, n: int,
                  prompt: Prompt) -> list[Completion]:
        """n answers to one prompt, each in its own model span; sample i is seeded `seed + i`."""
        out = []
        for i in range(n):
            opts = options if n == 1 or options.seed is None else replace(options, seed=options.seed + i)
            out.append(traced_complete(self.model, messages, opts, prompt_file=prompt.file,
                                       prompt_hash=prompt.hash, settings=self.settings))
        return out

    def _prompt(self, strategy: Strategy, ctx: TaskContext, previous: Attempt | None) -> Prompt:
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
    def _ensure_suite(self, ctx: TaskContext, suite: Suite, drawn: list[_Drawn], result: AgentResult,
                      attempt: Attempt) -> tuple[Suite, str | None]:
        """With no tests and no examples, ask the model once for tests, about the first candidate's interface.

        Returns the suite and, when the task named no function, the one the generated tests call."""
        if suite.tests or self.generate_tests == "never" or not ctx.text:
            result.generated_tests = ""
            return suite, None
        code = next((d.code for d in drawn if d.code is not None), None)
        if code is None:
            return suite, None
        interface = interface_of(ctx.text, code, ctx.entry_point)
        tests = self._write_tests(ctx, interface, code, attempt)
        result.generated_tests = tests or ""
        attempt.wrote_tests = tests
        target = interface.name if ctx.entry_point is None and interface.kind == "function" else None
        return (suite + suite_from_tests(tests, "generated") if tests else suite), target

    def _write_tests(self, ctx: TaskContext, interface: Interface, code: str, attempt: Attempt) -> str | None:
        name = "write_tests_function" if interface.kind == "function" else "write_tests_program"
        prompt = load_prompt(name)
        messages = [Message("user", prompt.render(task=ctx.text, signature=interface.signature or "",
                                                  n=str(5)))]
        started = time.perf_counter()
        options = GenerationOptions(max_tokens=min(self.options.max_tokens, 384), temperature=0.0)
        completion = self._complete(messages, options, 1, prompt)[0]
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


def _candidate(d: _Drawn, suite: Suite, pool: list[verify.Evaluation], score: int) -> Candidate:
    ev = d.evaluation
    if ev is None:
        return Candidate(code=None, outcome="no_code", output_tokens=d.completion.output_tokens)
    tests = ev.report.tests if ev.report else []
    own = verify.verdict(ev, pool, suite)
    error_type, error_message = (None, None) if own.passed else verify.error_of(ev, suite)
    return Candidate(code=ev.code, outcome="passed" if own.passed else "failed",
                     passed_tests=sum(t.ok for t in tests), failed_tests=sum(not t.ok for t in tests),
                     score=score, error_type=error_type, error_message=error_message,
                     output_tokens=d.completion.output_tokens)
