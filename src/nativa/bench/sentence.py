"""Sentence tasks: coding tasks given the way users give them to `nativa code TASK --tests FILE`.

HumanEval hands the model a signature and a docstring full of examples; users do not. They write one sentence
("Write a python function to count the positive numbers in a list.") and one assert, and the function's name
is often only in the assert. This set exists so that the agent's verification (issue 12) can be developed and
measured on that form without tuning to HumanEval's: each task carries the sentence, ONE visible assert (what
`--tests` gets), hidden asserts that judge the answer and must never reach the model, and a reference solution
that the checker (`tests/unit/bench/test_sentence_tasks.py`) runs against them in the real sandbox. The tasks
are our own, general Python exercises (strings, lists, dicts, math, sorting, recursion, small DP, parsing),
deterministic, with no I/O and no randomness, about 40 % easy, 40 % medium and 20 % hard.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from nativa.errors import BadInputError

TASKS_FILE = "sentence_tasks.jsonl"

Difficulty = Literal["easy", "medium", "hard"]


@dataclass(frozen=True, config=ConfigDict(extra="forbid", strict=True))
class SentenceTask:
    """One task as a user would give it, plus what judges it; `hidden_tests` are for scoring only."""

    id: str
    task: str
    """The one-sentence request; about half of them never name the function."""
    entry_point: str
    visible_test: str
    """One `assert entry_point(...) == ...` line: what the caller passes with `--tests`."""
    hidden_tests: tuple[str, ...]
    """3 to 6 asserts covering the edge cases the sentence implies; never shown to the model."""
    reference: str
    """A correct solution, so the checker can prove every hidden test is passable and exact."""
    difficulty: Difficulty


_ADAPTER = TypeAdapter(SentenceTask)


def load_sentence_tasks(path: Path | None = None) -> list[SentenceTask]:
    """The shipped set (or the JSON-lines file at `path`), in file order; a bad line is a `BadInputError`."""
    name = str(path) if path else TASKS_FILE
    try:
        text = path.read_text(encoding="utf-8") if path else \
            resources.files("nativa.bench").joinpath("tasks", TASKS_FILE).read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInputError(f"cannot read the sentence task set {name}: {exc.strerror or exc}") from None
    tasks: list[SentenceTask] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            task = _ADAPTER.validate_json(line)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "line"
            raise BadInputError(f"{name} line {number}: {where}: {first['msg']}") from None
        if task.id in seen:
            raise BadInputError(f"{name} line {number}: id {task.id!r} is used twice")
        seen.add(task.id)
        tasks.append(task)
    return tasks


def checking_program(code: str, tests: Iterable[str]) -> str:
    """`code` followed by the asserts: run it in the sandbox, and it exits cleanly only if every assert holds."""
    return code.rstrip() + "\n\n\n" + "\n".join(tests) + "\n"


# -- the benchmark: nativa with the visible assert as --tests, beside one plain call with it in the prompt --

PLAIN_USER = ("You are an expert Python programmer, and here is your task: {task} "
              "Your code should pass this test:\n\n{test}")


@dataclass(frozen=True)
class SentenceResult:
    """One task's outcome for one system: the hidden verdict, what the system claimed, and what it cost."""

    id: str
    system: str
    passed: bool  # the visible and every hidden test pass on the code the system returned
    claimed: bool  # the system itself said "solved"
    verified_by: str | None
    attempts: int
    output_tokens: int
    wall_s: float
    code: str | None = None


def judge(sandbox: object, task: SentenceTask, code: str | None) -> bool:
    """The visible and hidden asserts against `code`, in the sandbox: scoring only."""
    if not code:
        return False
    program = checking_program(code, (task.visible_test, *task.hidden_tests))
    return bool(sandbox.run(program, timeout_s=10, memory_mb=512).ok)  # type: ignore[attr-defined]


def run_nativa_task(task: SentenceTask, agent: object, sandbox: object) -> SentenceResult:
    """One sentence task through the agent with its visible assert as the tests, judged by all asserts."""
    result = agent.solve(task.task, tests=task.visible_test + "\n")  # type: ignore[attr-defined]
    return SentenceResult(id=task.id, system="nativa", passed=judge(sandbox, task, result.code),
                          claimed=result.success, verified_by=result.verified_by, attempts=len(result.attempts),
                          output_tokens=result.output_tokens, wall_s=result.wall_s, code=result.code)


def run_plain_task(task: SentenceTask, model: object, sandbox: object, max_tokens: int = 512) -> SentenceResult:
    """One sentence task as a single plain completion, its first code block judged by all asserts."""
    import time

    from nativa.bench.plain import first_block, plain_complete

    started = time.perf_counter()
    messages = [{"role": "user", "content": PLAIN_USER.format(task=task.task, test=task.visible_test)}]
    text, _, n_out = plain_complete(model, messages, max_tokens)  # type: ignore[arg-type]
    code = first_block(text)
    return SentenceResult(id=task.id, system="plain", passed=judge(sandbox, task, code), claimed=False,
                          verified_by=None, attempts=1, output_tokens=n_out,
                          wall_s=time.perf_counter() - started, code=code)


def read_results(path: Path) -> dict[tuple[str, str], SentenceResult]:
    """The tasks an earlier run wrote to `path`, by (system, task id): what `--resume` keeps. A task counts as
    done only when both systems finished it, so the pair always compares the same tasks."""
    from nativa.bench._stats import read_results as read

    return read(path, SentenceResult, lambda r: (r.system, r.id))
