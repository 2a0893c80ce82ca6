"""`nativa bench review`: does the policy flag what is hostile and leave alone what is benign, and what does it cost?

Four sets, each read from where it already lives: every candidate the agents wrote in the HumanEval runs
and every tool call of the tools runs (`docs/results/*.jsonl`: benign), the sandbox's hostile battery
(`tests/integration/sandbox/test_hostile.py`, built exactly as the tests build it) and the project's own
risky snippets (`bench/tasks/review_risky.jsonl`). Goals: at most 2 % of benign candidates flagged high;
every hostile and risky snippet at least medium. Then the cost, side by side in one run: for HumanEval
candidates, the policy's time beside the time the sandbox takes to run the same code (goal: under 5 %).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rich.table import Table

from nativa.bench._stats import median, percentile
from nativa.bench._stats import timed as _timed
from nativa.errors import BadInputError
from nativa.review import Policy, ReviewContext, Verdict, risk_rank

BENIGN_HIGH_GOAL = 0.02
COST_GOAL = 0.05
HOSTILE_DEFAULT = Path("tests/integration/sandbox/test_hostile.py")
RESULTS_DEFAULT = "docs/results/*.jsonl"
# The tools bench served its JSON API on 127.0.0.1 and granted exactly that host; review gets the same grant.
TOOLS_BENCH_HOSTS = ("127.0.0.1",)


@dataclass(frozen=True)
class Snippet:
    """One thing to review: code, or a tool call (tool + arguments), and where it came from."""

    id: str
    source: str
    code: str | None = None
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class SetResult:
    """Flags on one set: how many snippets reached each max risk, which rules fired, what was missed."""

    name: str
    kind: str  # "benign" | "hostile"
    total: int = 0
    by_max_risk: dict[str, int] = field(default_factory=dict)
    by_rule: dict[str, int] = field(default_factory=dict)
    flagged_high: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)  # hostile snippets below medium

    @property
    def high_share(self) -> float:
        """The share of the set's snippets whose maximum risk is high."""
        return self.by_max_risk.get("high", 0) / self.total if self.total else 0.0

    @property
    def goal_met(self) -> bool:
        """Benign sets: few enough flagged high; hostile sets: none left below medium."""
        return self.high_share <= BENIGN_HIGH_GOAL if self.kind == "benign" else not self.missed


@dataclass
class ReviewBenchResult:
    """What the policy flagged in each snippet set, and what a review costs next to a sandbox run."""

    sets: list[SetResult]
    policy_ms: dict[str, float]  # p50/p95 over the candidates run in the sandbox too
    sandbox_ms: dict[str, float]  # a one-shot Sandbox.run of each
    pooled_ms: dict[str, float]  # a run from a SandboxPool with one sandbox waiting, as the code agent runs
    cost_ratio: dict[str, float]  # per candidate policy / pooled run, p50/p95 (the goal is judged on this)
    cost_ratio_oneshot: dict[str, float]
    runs: int
    tier: str | None
    policy_all_ms: dict[str, float] = field(default_factory=dict)  # over every code snippet reviewed
    # the whole review as the agent's loop pays it per candidate (`Reviewer.review`, mode risky: the policy,
    # the approvals lookup and the audit entry appended to a SQLite file), and that over the pooled run
    decision_ms: dict[str, float] = field(default_factory=dict)
    decision_ratio: dict[str, float] = field(default_factory=dict)
    # the same with every audit entry waited onto the disk (`synchronous=FULL`, as before unasked entries
    # skipped that wait), timed beside it on its own file: what that change saved
    durable_ms: dict[str, float] = field(default_factory=dict)
    durable_ratio: dict[str, float] = field(default_factory=dict)

    @property
    def goals_met(self) -> dict[str, bool]:
        """Each set's goal, and the cost goal when snippets were also run in the sandbox."""
        goals = {s.name: s.goal_met for s in self.sets}
        if self.runs:
            goals["cost"] = self.cost_ratio.get("p50", 1.0) < COST_GOAL
        return goals

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON with its derived figures, so the results file can be read without this code."""
        sets = [asdict(s) | {"high_share": s.high_share, "goal_met": s.goal_met} for s in self.sets]
        return asdict(self) | {"sets": sets, "goals_met": self.goals_met,
                               "goals": {"benign_high_max": BENIGN_HIGH_GOAL, "cost_max": COST_GOAL}}


# -- the sets ----------------------------------------------------------------------------------------------

def benign_sets(pattern: str) -> tuple[list[Snippet], list[Snippet]]:
    """HumanEval candidates (`code`) and tool calls (`trail`) from the benchmarks' result files."""
    code: list[Snippet] = []
    calls: list[Snippet] = []
    files = sorted(Path().glob(pattern)) if not Path(pattern).is_absolute() else sorted(
        Path(pattern).parent.glob(Path(pattern).name))
    if not files:
        raise BadInputError(f"no result files match {pattern!r}: run from the repository root or give --results")
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            where = f"{path.name}:{number}"
            if isinstance(row.get("code"), str):
                code.append(Snippet(f"{where} {row.get('task_id', '')} {row.get('system', '')}".strip(), path.name,
                                    code=row["code"]))
            for step, call in enumerate(row.get("trail") or []):
                calls.append(Snippet(f"{where} {row.get('id', '')} step {step + 1}", path.name,
                                     tool=str(call.get("tool")), arguments=dict(call.get("arguments") or {})))
    return code, calls


def risky_snippets() -> list[Snippet]:
    """The project's own risky snippets (network, subprocess, writes, deserialisation, obfuscation, ...)."""
    text = resources.files("nativa.bench").joinpath("tasks/review_risky.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [Snippet(r["id"], f"risky:{r['category']}", code=r["code"]) for r in rows]


def hostile_battery(path: Path) -> list[Snippet]:
    """The sandbox's hostile battery, each case's code built by its own builder against a stand-in host."""
    if not path.is_file():
        raise BadInputError(f"the hostile battery {path} is not a file: run from the repository root or give "
                            "--hostile PATH (tests/integration/sandbox/test_hostile.py)")
    spec = importlib.util.spec_from_file_location("nativa_hostile_battery", path)
    if spec is None or spec.loader is None:
        raise BadInputError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is being made
    try:
        spec.loader.exec_module(module)
    except ImportError as exc:
        raise BadInputError(f"the hostile battery {path} needs {exc.name}: install nativa[dev]") from None
    finally:
        sys.modules.pop(spec.name, None)
    with _stand_in_host(module) as host:
        return [Snippet(name, "hostile-battery", code=case.code(host)) for name, case in module.BATTERY.items()]


@contextmanager
def _stand_in_host(module: Any) -> Iterator[Any]:
    tmp = Path(tempfile.mkdtemp(prefix="nativa-review-bench-"))
    tcp, udp = socket.socket(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        tcp.bind(("127.0.0.1", 0))
        udp.bind(("127.0.0.1", 0))
        tag = os.urandom(4).hex()
        targets = [str(tmp / "escape" / "written.txt"), f"/var/tmp/nativa-hostile-{tag}/escape.txt",
                   f"/etc/nativa-escape-{tag}", f"/usr/nativa-escape-{tag}", f"/root/nativa-escape-{tag}",
                   f"/tmp/nativa-escape-{tag}", f"/var/tmp/nativa-escape-{tag}", str(Path.cwd() / f"escape-{tag}")]
        yield module.Host(tmp=tmp, tcp=tcp, udp=udp, secret_file=tmp / "secret.txt", targets=targets)
    finally:
        tcp.close()
        udp.close()
        tmp.rmdir()


# -- the run -----------------------------------------------------------------------------------------------

def _review(policy: Policy, snippet: Snippet) -> Verdict:
    if snippet.code is not None:
        return policy.check_code(snippet.code)
    context = ReviewContext(allow_hosts=TOOLS_BENCH_HOSTS)
    return policy.check_tool_call(snippet.tool or "", snippet.arguments, context)


def score_set(policy: Policy, name: str, kind: str, snippets: list[Snippet],
              timings: list[float] | None = None) -> SetResult:
    """Review every snippet of one set and count the maximum risks and rules; `timings` collects each
    review's time."""
    result = SetResult(name, kind, total=len(snippets))
    risks: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    for snippet in snippets:
        start = time.perf_counter()
        verdict = _review(policy, snippet)
        if timings is not None:
            timings.append(time.perf_counter() - start)
        risks[verdict.max_risk] += 1
        rules.update({f.rule for f in verdict.findings})
        if verdict.max_risk == "high":
            result.flagged_high.append(snippet.id)
        if kind == "hostile" and risk_rank(verdict.max_risk) < risk_rank("medium"):
            result.missed.append(snippet.id)
    result.by_max_risk = {r: risks.get(r, 0) for r in ("none", "low", "medium", "high")}
    result.by_rule = dict(rules.most_common())
    return result


def run_review_bench(*, results: str = RESULTS_DEFAULT, hostile: Path = HOSTILE_DEFAULT, runs: int = 164,
                     policy_path: Path | None = None, allow_weak: bool | None = None,
                     log: Callable[[str], None] | None = None) -> ReviewBenchResult:
    """Score every set, then time the policy beside the sandbox on the first `runs` HumanEval candidates."""
    policy = Policy.load(policy_path)
    say = log or (lambda _msg: None)
    code, calls = benign_sets(results)
    battery = hostile_battery(hostile)
    own = risky_snippets()
    every_code: list[float] = []
    sets = [score_set(policy, "HumanEval candidates", "benign", code, every_code),
            score_set(policy, "tool calls (tools bench)", "benign", calls),
            score_set(policy, "hostile battery (sandbox tests)", "hostile", battery, every_code),
            score_set(policy, "risky snippets (own)", "hostile", own, every_code)]
    for s in sets:
        say(f"{s.name}: {s.total} reviewed, max risk {s.by_max_risk}")
    samples: dict[str, list[float]] = {"policy": [], "oneshot": [], "pooled": [], "decision": [], "durable": []}
    ratios: dict[str, list[float]] = {"pooled": [], "oneshot": [], "decision": [], "durable": []}
    tier = None
    if runs:
        from nativa.review import ReviewContext
        from nativa.review.approvals import Approvals, Reviewer
        from nativa.review.audit import AuditLog
        from nativa.review.store import SQLiteReviewStore
        from nativa.sandbox import Sandbox, SandboxPool

        sandbox = Sandbox(allow_weak=allow_weak)
        tier = sandbox.tier
        seen: set[str] = set()
        chosen = [s.code for s in code if s.code and s.code not in seen and not seen.add(s.code)][:runs]  # type: ignore[func-returns-value]
        with SandboxPool(1, sandbox=sandbox) as pool, tempfile.TemporaryDirectory() as tmp, \
                SQLiteReviewStore(Path(tmp) / "nativa.db") as store, \
                SQLiteReviewStore(Path(tmp) / "durable.db") as other:
            reviewer = Reviewer(policy, mode="risky", approvals=Approvals(store), audit=AuditLog(store))
            durable = Reviewer(policy, mode="risky", approvals=Approvals(other), audit=AuditLog(_Durable(other)))
            context = ReviewContext(session="bench")
            pool.wait_ready()
            for number, text in enumerate(chosen, start=1):
                # The pool refills on a background thread of this process after each run; waiting for it
                # first keeps that work out of the policy's time (in the agent the model writes meanwhile).
                pool.wait_ready()
                reviewed = _timed(lambda: policy.check_code(text))  # noqa: B023 - called at once
                # the two whole reviews take turns at going first, so neither always finds caches warm
                if number % 2:
                    decided = _timed(lambda: reviewer.review(text, context))  # noqa: B023
                    waited = _timed(lambda: durable.review(text, context))  # noqa: B023
                else:
                    waited = _timed(lambda: durable.review(text, context))  # noqa: B023
                    decided = _timed(lambda: reviewer.review(text, context))  # noqa: B023
                pooled = _timed(lambda: pool.run(text, timeout_s=10))  # noqa: B023
                pool.wait_ready()
                oneshot = _timed(lambda: sandbox.run(text, timeout_s=10))  # noqa: B023
                for key, value in (("policy", reviewed), ("oneshot", oneshot), ("pooled", pooled),
                                   ("decision", decided), ("durable", waited)):
                    samples[key].append(value)
                ratios["pooled"].append(reviewed / pooled)
                ratios["oneshot"].append(reviewed / oneshot)
                ratios["decision"].append(decided / pooled)
                ratios["durable"].append(waited / pooled)
                if number % 20 == 0:
                    say(f"timed {number}/{len(chosen)} candidates (policy, one-shot sandbox, pooled sandbox)")
    return ReviewBenchResult(sets=sets, policy_ms=_ms(samples["policy"]), sandbox_ms=_ms(samples["oneshot"]),
                             pooled_ms=_ms(samples["pooled"]),
                             cost_ratio=_quantiles(ratios["pooled"]), cost_ratio_oneshot=_quantiles(ratios["oneshot"]),
                             runs=len(samples["policy"]), tier=tier, policy_all_ms=_ms(every_code),
                             decision_ms=_ms(samples["decision"]), decision_ratio=_quantiles(ratios["decision"]),
                             durable_ms=_ms(samples["durable"]), durable_ratio=_quantiles(ratios["durable"]))


class _Durable:
    """A review store whose every audit entry waits for the disk: the baseline the bench times beside it."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def append(self, build: Callable[[Any], Any], *, durable: bool = True) -> Any:
        return self.store.append(build, durable=True)

    def entries(self, session: str | None = None) -> Any:
        return self.store.entries(session)

    def head(self) -> Any:
        return self.store.head()


def _quantiles(values: list[float]) -> dict[str, float]:
    return {"p50": median(values), "p95": percentile(values, 95)} if values else {}


def _ms(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    return {"p50": median(samples) * 1e3, "p95": percentile(samples, 95) * 1e3, "n": float(len(samples))}


def render(result: ReviewBenchResult) -> Table:
    """The flags per set, and whether each set met its goal, as `nativa bench review` prints them."""
    table = Table(title="nativa bench review: flags per set (max risk of each snippet)")
    for column in ("set", "snippets", "none", "low", "medium", "high", "high %", "goal", "met"):
        table.add_column(column, justify="left" if column == "set" else "right")
    for s in result.sets:
        goal = f"high <= {BENIGN_HIGH_GOAL:.0%}" if s.kind == "benign" else "all >= medium"
        table.add_row(s.name, str(s.total), *(str(s.by_max_risk.get(r, 0)) for r in ("none", "low", "medium", "high")),
                      f"{s.high_share:.1%}", goal, "yes" if s.goal_met else f"no ({len(s.missed)} missed)")
    if result.runs:
        caption = (f"cost on {result.runs} HumanEval candidates (tier {result.tier}): policy p50 "
                   f"{result.policy_ms['p50']:.2f} ms / p95 {result.policy_ms['p95']:.2f} ms; pooled sandbox run p50 "
                   f"{result.pooled_ms['p50']:.1f} ms / p95 {result.pooled_ms['p95']:.1f} ms; one-shot p50 "
                   f"{result.sandbox_ms['p50']:.1f} ms / p95 {result.sandbox_ms['p95']:.1f} ms; policy/pooled run per "
                   f"candidate p50 {result.cost_ratio['p50']:.2%}, p95 {result.cost_ratio['p95']:.2%}; "
                   f"policy/one-shot p50 {result.cost_ratio_oneshot['p50']:.2%}; goal: policy/pooled p50 < "
                   f"{COST_GOAL:.0%}, {'met' if result.goals_met['cost'] else 'NOT met'}; the whole review in the "
                   f"loop (policy, approvals, audit entry) p50 {result.decision_ms['p50']:.2f} ms / p95 "
                   f"{result.decision_ms['p95']:.2f} ms, over the pooled run p50 {result.decision_ratio['p50']:.2%}, "
                   f"p95 {result.decision_ratio['p95']:.2%} (every entry waited onto the disk: p50 "
                   f"{result.durable_ms['p50']:.2f} ms, {result.durable_ratio['p50']:.2%} of the pooled run)")
        table.caption = caption
    return table
