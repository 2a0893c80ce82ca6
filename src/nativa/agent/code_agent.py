"""The self-correcting loop: the model writes Python, the sandbox runs it, the error goes back, repeat.

`CodeAgent._loop` is the whole algorithm, kept in one readable method. Each attempt asks the model (prompt
files under prompts/), extracts the code, runs it with the task's checks or the caller's tests in the
sandbox, and on failure builds the observation for the next attempt. The loop stops on success, at
`max_attempts`, or when the same error comes back twice, after one try with the other strategy. The code
it keeps is the attempt closest to passing its checks, not merely the last one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from nativa import tracing
from nativa.agent._prompts import Prompt, load_prompt
from nativa.agent.extract import extract_code
from nativa.agent.harness import build_program, failed_count
from nativa.agent.observation import describe_failure
from nativa.agent.result import AgentResult, Attempt, Strategy, best_attempt
from nativa.agent.task import TaskContext
from nativa.config import Settings
from nativa.errors import BadInputError
from nativa.models.base import ChatModel, GenerationOptions, Message, collect
from nativa.models.traced import traced_stream

EventFn = Callable[[str, Attempt], None]
_STDOUT_KEEP = 4000
NO_CODE = "Your reply contained no Python code. Reply with the complete code in one ```python block."


class CodeAgent:
    def __init__(
        self,
        model: ChatModel,
        sandbox: Any,
        *,
        max_attempts: int = 3,
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
        self.model = model
        self.sandbox = sandbox
        self.max_attempts = max_attempts
        self.options = GenerationOptions(max_tokens=max_tokens, temperature=temperature)
        # A small model asked again at temperature 0 tends to write the same code again; later attempts
        # sample (seeded by the attempt number, so runs stay repeatable) to get a different candidate.
        self.retry_temperature = retry_temperature
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.settings = settings
        self.on_event = on_event

    # -- entry points ------------------------------------------------------------------------------
    def solve(self, task: str, tests: str | None = None, *, entry_point: str | None = None) -> AgentResult:
        """Write code for a natural-language task, or complete a function stub (signature + docstring)."""
        if not task or not task.strip():
            raise BadInputError("task is empty; describe what the code should do")
        return self._loop(TaskContext.from_task(task, tests, entry_point), first="generate")

    def fix(self, code: str, task: str | None = None, tests: str | None = None) -> AgentResult:
        """Repair given code: run it first, and ask the model only if it fails."""
        if not code or not code.strip():
            raise BadInputError("code to fix is empty")
        ctx = TaskContext.from_task(task or "", tests)
        return self._loop(ctx, first="given", given=code)

    # -- the loop ----------------------------------------------------------------------------------
    def _loop(self, ctx: TaskContext, first: Strategy, given: str | None = None) -> AgentResult:
        start = time.perf_counter()
        result = AgentResult(success=False, code=None, task=ctx.text or None,
                             checks=[f"{c.expr} == {c.expected}" for c in ctx.checks])
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
                attempt = self._attempt(number, strategy, ctx, previous, given)
                result.attempts.append(attempt)
                kept = best_attempt(result.attempts)
                result.code = kept.code if kept else None
                if attempt.outcome == "passed":
                    result.success, result.stop_reason = True, "passed"
                    break
                repeated = previous is not None and attempt.error_signature == previous.error_signature
                if repeated and switched:
                    result.stop_reason = "repeated_error"
                    break
                if repeated:  # the same error twice: one try with the other strategy, then stop
                    strategy, switched = ("repair" if usual == "regenerate" else "regenerate"), True
                else:
                    strategy = usual
                previous = attempt
                number += 1
            run_span.set_attribute("nativa.agent.success", result.success)
            run_span.set_attribute("nativa.agent.attempts", len(result.attempts))
        result.wall_s = time.perf_counter() - start
        return result

    def _attempt(self, number: int, strategy: Strategy, ctx: TaskContext, previous: Attempt | None,
                 given: str | None) -> Attempt:
        attempt = Attempt(number=number, strategy=strategy, code=None)
        started = time.perf_counter()
        self._emit("attempt_start", attempt)
        with tracing.attempt_span(number, {"nativa.attempt.strategy": strategy}):
            if strategy == "given":
                code: str | None = given
            else:
                reply = self._ask(self._prompt(strategy, ctx, previous), strategy, ctx, previous, attempt)
                code = extract_code(reply, ctx.entry_point)
                code = ctx.complete(code) if code is not None else None
            attempt.code = code
            self._emit("model_done", attempt)
            if code is None:
                attempt.outcome, attempt.observation = "no_code", NO_CODE
            else:
                self._run(code, ctx, attempt)
        attempt.duration_s = time.perf_counter() - started
        self._emit("run_done", attempt)
        return attempt

    # -- model -------------------------------------------------------------------------------------
    def _prompt(self, strategy: Strategy, ctx: TaskContext, previous: Attempt | None) -> Prompt:
        if strategy == "generate":
            return load_prompt("complete_function" if ctx.stub else "solve")
        if strategy == "regenerate":
            return load_prompt("regenerate")
        return load_prompt("repair" if ctx.text and previous and previous.strategy != "given" else "fix")

    def _ask(self, prompt: Prompt, strategy: Strategy, ctx: TaskContext, previous: Attempt | None,
             attempt: Attempt) -> str:
        values = {"task": ctx.text, "code": (previous.code or "") if previous else "",
                  "observation": (previous.observation or "") if previous else "",
                  "task_line": f"\nThe code should: {ctx.text}\n" if ctx.text else ""}
        messages = [Message("system", load_prompt("code_system").text.strip()),
                    Message("user", prompt.render(**values))]
        started = time.perf_counter()
        options = self.options
        # Sample only once a model attempt has failed: a first attempt (also `fix`'s first) stays greedy.
        if attempt.number >= 2 and self.retry_temperature > options.temperature:
            # Starting over must not land on the same answer again: sample hotter for it.
            hotter = min(1.0, self.retry_temperature + 0.3) if strategy == "regenerate" else self.retry_temperature
            options = replace(options, temperature=hotter, seed=attempt.number)
        completion = collect(traced_stream(self.model, messages, options, prompt_file=prompt.file,
                                           prompt_hash=prompt.hash, settings=self.settings))
        attempt.model_s = time.perf_counter() - started
        attempt.input_tokens, attempt.output_tokens = completion.input_tokens, completion.output_tokens
        return completion.text

    # -- sandbox -----------------------------------------------------------------------------------
    def _run(self, code: str, ctx: TaskContext, attempt: Attempt) -> None:
        program = build_program(code, checks=ctx.checks, tests=ctx.tests)
        started = time.perf_counter()
        run = self.sandbox.run(program.source, timeout_s=self.timeout_s, memory_mb=self.memory_mb)  # traces itself
        attempt.sandbox_s = time.perf_counter() - started
        attempt.killed_by = run.killed_by
        attempt.stdout = run.stdout[-_STDOUT_KEEP:]
        if run.ok:
            attempt.outcome = "passed"
            return
        attempt.outcome = "failed"
        attempt.error_type = run.error_type or (f"killed by {run.killed_by}" if run.killed_by else f"exit {run.exit_code}")
        attempt.error_message = run.error_message
        attempt.failed_checks = failed_count(run.error_type, run.error_message)
        attempt.observation = describe_failure(run, program.code_lines)

    def _emit(self, kind: str, attempt: Attempt) -> None:
        if self.on_event is not None:
            self.on_event(kind, attempt)

