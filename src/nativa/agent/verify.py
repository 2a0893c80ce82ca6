"""Evidence: run each candidate against everything known about the task, rank candidates, decide "solved".

Evidence comes in tiers of trust. The caller's tests come first, then the examples in the task itself, then
tests the model wrote for the task, then agreement between candidates. A candidate is ranked on the first
tier where candidates differ. Generated tests can be wrong, so they are never a veto on their own: following
CodeT (Chen et al., 2022), a candidate's score is the size of its consensus set (candidates that compute the
same values on the generated tests' inputs) times the tests it passes, and a generated test that
no candidate passes counts against nobody. `verified_by` says which tier a success rests on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from nativa.agent.harness import (
    REQUIRED,
    SOLUTION_FILE,
    Program,
    Report,
    Suite,
    TestKind,
    build_program,
    read_report,
)
from nativa.agent.observation import describe_failure
from nativa.agent.result import VerifiedBy
from nativa.sandbox.protocol import SandboxLike
from nativa.sandbox.result import RunResult

_STDOUT_KEEP = 4000


@dataclass(slots=True)
class Evaluation:
    """One candidate's run against the suite, as the host read it."""

    code: str
    run: RunResult
    report: Report | None

    @property
    def checked(self) -> bool:
        """The harness got through every test (the code neither crashed, hung, nor ended the process)."""
        return self.report is not None and self.run.killed_by is None

    def failed(self, kind: TestKind) -> int | None:
        """How many tests of `kind` failed, or None when the run never got through the suite (so "0
        failed" is never claimed for code that crashed)."""
        return len(self.report.failed((kind,))) if self.checked and self.report else None

    def passed_generated(self) -> tuple[bool, ...]:
        """Which generated tests passed, in order: candidates are compared on it (disputed tests, CodeT's
        dual agreement)."""
        if not self.checked or self.report is None:
            return ()
        return tuple(t.ok for t in self.report.tests if t.kind == "generated")

    @property
    def signature(self) -> tuple[str | None, ...]:
        """What this candidate computed on the shared inputs: equal signatures agree with each other."""
        if not self.checked or self.report is None:
            return ("<no report>",)
        return tuple(t.value for t in self.report.tests if t.kind == "generated")

    @property
    def stdout(self) -> str:
        """The tail of what the candidate printed, capped so a chatty program cannot bloat the result."""
        return self.run.stdout[-_STDOUT_KEEP:]


def evaluate(code: str, suite: Suite, sandbox: SandboxLike, *, timeout_s: float, memory_mb: int,
             alias: tuple[str, str] | None = None) -> Evaluation:
    """Run one candidate against the suite in the sandbox and read the harness's report back."""
    program: Program = build_program(code, suite, alias=alias, test_timeout_s=min(2.0, timeout_s))
    run = sandbox.run(program.source, files=program.files, timeout_s=timeout_s, memory_mb=memory_mb)
    return Evaluation(code=code, run=run, report=read_report(run.files_out, program.nonce))


def required_failures(ev: Evaluation, suite: Suite) -> int | None:
    """Failed tests of the tiers the caller must trust (their tests, else the task's examples)."""
    if not ev.checked:
        return None
    kinds: tuple[TestKind, ...] = ("user",) if suite.count("user") else REQUIRED
    return sum(ev.failed(k) or 0 for k in kinds)


def disputed(pool: list[Evaluation]) -> set[int]:
    """Generated tests that no candidate passes: likely wrong tests, once there are two candidates to ask."""
    vectors = [ev.passed_generated() for ev in pool if ev.checked]
    if len(vectors) < 2 or not vectors[0]:
        return set()
    return {i for i in range(len(vectors[0])) if not any(v[i] for v in vectors if len(v) > i)}


def consensus(pool: list[Evaluation]) -> list[int]:
    """How many candidates computed exactly what each one computed (its consensus set's size)."""
    sizes = Counter(ev.signature for ev in pool if ev.checked)
    return [sizes[ev.signature] if ev.checked else 0 for ev in pool]


def scores(pool: list[Evaluation]) -> list[int]:
    """CodeT's dual agreement: consensus-set size x generated tests passed."""
    return [n * sum(ev.passed_generated()) for n, ev in zip(consensus(pool), pool, strict=True)]


def rank(pool: list[Evaluation], suite: Suite) -> list[int]:
    """Indices of `pool`, best first: checked before crashed, then fewest failed caller tests, then fewest
    failed task examples, then agreement with the generated tests and each other, then the size of the
    consensus set alone, then the earliest (the greedy answer wins ties)."""
    dual, sizes = scores(pool), consensus(pool)

    def key(i: int) -> tuple[int, int, int, int, int, int]:
        ev = pool[i]
        if not ev.checked:
            return (1, 0, 0, 0, 0, i)
        return (0, ev.failed("user") or 0, ev.failed("example") or 0, -dual[i], -sizes[i], i)

    return sorted(range(len(pool)), key=key)


@dataclass(slots=True)
class Verdict:
    """Whether the kept candidate counts as solved, on which evidence, and that evidence in words."""

    passed: bool
    verified_by: VerifiedBy
    summary: str  # in words, for the CLI and the trace: "passed 3 generated checks"
    counts: dict[str, int] = field(default_factory=dict)


def verdict(ev: Evaluation, pool: list[Evaluation], suite: Suite) -> Verdict:
    """Whether the kept candidate counts as solved, and on which evidence."""
    counts = {"user_tests": suite.count("user"), "task_examples": suite.count("example"),
              "generated_tests": suite.count("generated")}
    if counts["user_tests"]:
        return _tier(ev, "user", "user_tests", counts["user_tests"], "test", counts)
    if counts["task_examples"]:
        return _tier(ev, "example", "task_examples", counts["task_examples"], "example check", counts)
    if counts["generated_tests"]:
        if not ev.checked:
            return Verdict(False, "generated_tests", "failed before its generated checks ran", counts)
        wrong = disputed(pool)
        trusted = [i for i in range(counts["generated_tests"]) if i not in wrong]
        vector = ev.passed_generated()
        ok = bool(trusted) and all(vector[i] for i in trusted if i < len(vector))
        n_ok = sum(vector)
        text = f"passed {n_ok} of {len(vector)} generated checks"
        if wrong:
            text += f" ({len(wrong)} failed by every candidate, so not counted)"
        return Verdict(ok, "generated_tests", text, counts)
    ok = ev.checked
    return Verdict(ok, "ran_only", "ran without error, not verified" if ok else "failed", counts)


def _tier(ev: Evaluation, kind: TestKind, name: VerifiedBy, total: int, noun: str,
          counts: dict[str, int]) -> Verdict:
    failed = ev.failed(kind)
    if failed is None:
        return Verdict(False, name, f"failed before its {noun}s ran", counts)
    plural = "s" if total != 1 else ""
    text = (f"passed {total} {noun}{plural}" if failed == 0 else f"failed {failed} of {total} {noun}{plural}")
    return Verdict(failed == 0, name, text, counts)


def observe(ev: Evaluation, suite: Suite) -> str:
    """What the model reads next about this candidate: the failed checks with both sides, or the crash."""
    if not ev.checked or ev.report is None:
        return describe_failure(ev.run, code_file=SOLUTION_FILE)
    failed = ev.report.failed(("user",) if suite.count("user") else REQUIRED)
    parts: list[str] = []
    if failed:
        total = sum(1 for t in ev.report.tests if t.kind in {f.kind for f in failed})
        parts.append(f"{len(failed)} of {total} checks failed:")
        parts += [f"- {t.error or t.label}" for t in failed[:4]]
    else:
        wrong = [t for t in ev.report.failed(("generated",))]
        if wrong:
            parts.append("It failed these checks written for the task:")
            parts += [f"- {t.error or t.label}" for t in wrong[:4]]
    out = ev.run.stdout.strip()
    if out:
        parts.append("Its output ended with:\n" + out[-600:])
    return "\n".join(parts) if parts else "It ran, but the result could not be checked."


def error_of(ev: Evaluation, suite: Suite) -> tuple[str | None, str | None]:
    """(error type, message) of a candidate, for the attempt record and the repeat rule."""
    if not ev.checked:
        run = ev.run
        return (run.error_type or (f"killed by {run.killed_by}" if run.killed_by else f"exit {run.exit_code}"),
                run.error_message)
    failures = ev.report.failed(("user",) if suite.count("user") else REQUIRED) if ev.report else []
    if failures:
        return "AssertionError", "; ".join((t.error or t.label) for t in failures[:3])
    generated = ev.report.failed(("generated",)) if ev.report else []
    if generated:
        return "GeneratedCheckFailed", "; ".join((t.error or t.label) for t in generated[:3])
    return None, None


def as_dict(ev: Evaluation) -> dict[str, Any]:
    """A JSON-able summary of one candidate's evidence, for results and traces."""
    report = ev.report
    return {
        "checked": ev.checked,
        "tests": [{"kind": t.kind, "label": t.label, "ok": t.ok} for t in report.tests] if report else [],
        "killed_by": ev.run.killed_by,
    }
