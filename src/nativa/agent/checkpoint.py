"""What the code agent's loop carries from attempt to attempt, and the JSON a paused run is kept as.

A run paused for a person's approval must go on later, perhaps in another process after a restart, with
nothing pickled: the state is plain data (the task, the result so far, the test suite, every candidate
that ran with its evidence, the candidates of the attempt that paused), written as JSON and read back
into the same dataclasses. Resuming runs the candidate the person approved and continues the loop from
there, exactly as if the person had answered at a terminal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from nativa.agent import verify
from nativa.agent.harness import Report, Suite, TestCase, TestOutcome
from nativa.agent.result import AgentResult, Attempt, ReviewNote, Strategy
from nativa.agent.task import TaskContext
from nativa.errors import BadInputError
from nativa.models.base import Completion
from nativa.sandbox.result import RunResult

VERSION = 1
_KEEP_CHARS = 8000  # of a run's stdout and stderr: what observations and results show, not all of it


@dataclass(slots=True)
class Drawn:
    """A candidate on its way through the loop: what the model wrote, what review and the sandbox said."""

    code: str | None
    completion: Completion
    evaluation: verify.Evaluation | None = None
    review: ReviewNote | None = None

    @property
    def waiting(self) -> bool:
        """Not decided yet: never reviewed, or paused for a person's answer."""
        return self.code is not None and self.evaluation is None and (self.review is None or
                                                                      self.review.status == "pending")


@dataclass(slots=True)
class RunState:
    """Everything the loop needs between attempts; `paused` is an attempt stopped between its candidates."""

    ctx: TaskContext
    first: Strategy  # "generate" (solve) or "given" (fix)
    given: str | None
    result: AgentResult
    suite: Suite
    strategy: Strategy
    number: int
    pool: list[verify.Evaluation] = field(default_factory=list)
    target: str | None = None  # the function generated tests call, when the task named none
    previous: Attempt | None = None
    switched: bool = False
    paused: tuple[Attempt, list[Drawn]] | None = None
    stage: int = 0  # the cascade stage this part of the run is on (0 for a single model)
    local_only: list[str] = field(default_factory=list)  # why the run must stay off remote models

    @property
    def usual(self) -> Strategy:
        """After a failure, `solve` starts over with the failure in view, and `fix` repairs its code."""
        return "regenerate" if self.first == "generate" else "repair"


def save(state: RunState, pending_hash: str) -> dict[str, Any]:
    """The paused run as JSON-able data; `pending_hash` names the candidate a person is asked about."""
    assert state.paused is not None
    attempt, drawn = state.paused
    pool_index = {id(ev): i for i, ev in enumerate(state.pool)}
    ctx = state.ctx
    return {
        "version": VERSION, "kind": "code", "pending_hash": pending_hash,
        "task": {"text": ctx.text, "tests": ctx.tests, "entry_point": ctx.entry_point, "context": ctx.context},
        "first": state.first, "given": state.given, "result": state.result.to_dict(),
        "suite": [[tag, asdict(step) if isinstance(step, TestCase) else step] for tag, step in state.suite.steps],
        "strategy": state.strategy, "number": state.number, "target": state.target, "switched": state.switched,
        "stage": state.stage, "local_only": list(state.local_only),
        "pool": [_evaluation(ev) for ev in state.pool],
        "attempt": asdict(attempt),
        "drawn": [{"code": d.code, "output_tokens": d.completion.output_tokens,
                   "evaluation": pool_index[id(d.evaluation)] if d.evaluation is not None else None,
                   "review": asdict(d.review) if d.review is not None else None} for d in drawn],
    }


def load(data: dict[str, Any], model_name: str) -> tuple[RunState, str]:
    """The state `save` wrote, and the hash of the candidate awaiting the person's answer."""
    if data.get("version") != VERSION or data.get("kind") != "code":
        raise BadInputError(f"the paused run's checkpoint is of another kind or version ({data.get('kind')!r} "
                            f"v{data.get('version')!r}); this nativa resumes code-agent checkpoints v{VERSION}")
    task = data["task"]
    ctx = TaskContext.from_task(task["text"], task["tests"], task["entry_point"], context=task["context"])
    result = AgentResult.from_dict(data["result"])
    pool = [_evaluation_from(ev) for ev in data["pool"]]
    steps = tuple((tag, TestCase(**step) if isinstance(step, dict) else str(step)) for tag, step in data["suite"])
    drawn = [Drawn(d["code"], Completion("", "stop", 0, int(d["output_tokens"]), 0.0, model_name),
                   pool[d["evaluation"]] if d["evaluation"] is not None else None,
                   ReviewNote.from_dict(d["review"]) if d["review"] else None) for d in data["drawn"]]
    state = RunState(ctx=ctx, first=data["first"], given=data["given"], result=result, suite=Suite(steps),
                     strategy=data["strategy"], number=int(data["number"]), pool=pool, target=data["target"],
                     previous=result.attempts[-1] if result.attempts else None, switched=bool(data["switched"]),
                     paused=(Attempt.from_dict(data["attempt"]), drawn), stage=int(data.get("stage", 0)),
                     local_only=[str(r) for r in data.get("local_only") or []])
    return state, str(data["pending_hash"])


def _evaluation(ev: verify.Evaluation) -> dict[str, Any]:
    run = ev.run.to_dict()
    run["stdout"], run["stderr"] = run["stdout"][-_KEEP_CHARS:], run["stderr"][-_KEEP_CHARS:]
    run["files_out"] = {}  # the harness's report is kept parsed, below; nothing else is read back
    return {"code": ev.code, "run": run, "report": asdict(ev.report) if ev.report is not None else None}


def _evaluation_from(data: dict[str, Any]) -> verify.Evaluation:
    raw = data["report"]
    report = None if raw is None else Report(tests=[TestOutcome(**t) for t in raw["tests"]], exited=raw["exited"],
                                             setup_errors=list(raw["setup_errors"]))
    return verify.Evaluation(code=data["code"], run=RunResult.from_dict(data["run"]), report=report)
