"""`nativa bench tracing`: what tracing costs, per span and as a share of an agent run, on vs off in one
run.

Tracing is switched with `tracing.suspended()` inside one process, so both sides share the interpreter,
caches and machine load; runs alternate on/off so drift hits both alike. The agent run is simulated (the
agent is written elsewhere) with real work in place of sleeps: CPU work for the model, a real child process
for the sandbox. It is deliberately much shorter than a real run (a real model call takes seconds), so the
share it reports is an upper bound. `measure_run_overhead` takes any callable: point it at the real agent
when it exists.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nativa import tracing
from nativa.bench._stats import median
from nativa.config import Settings
from nativa.errors import ConfigError

GOAL_FRACTION = 0.01
_CHUNK = 500  # below the batch processor's queue (2048): measure cost, not drops


@dataclass(frozen=True)
class SpanCost:
    """Microseconds per span of one kind: on the traced code's thread, and including the export work."""

    kind: str
    spans: int
    on_us: float
    on_with_export_us: float
    off_us: float

    @property
    def added_us(self) -> float:
        """What tracing adds to one span, export included."""
        return self.on_with_export_us - self.off_us


@dataclass(frozen=True)
class RunOverhead:
    """Wall time of one run with tracing on vs off, and the share tracing takes."""

    runs: int
    spans_per_run: int
    on_median_s: float
    off_median_s: float
    measured_fraction: float  # median of paired (on - off) differences / median off-run time
    measured_noise: float  # half the interquartile range of those paired differences, same scale
    estimated_fraction: float  # spans per run x cost per span (export included) / run time
    on_runs_s: list[float] = field(default_factory=list)
    off_runs_s: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class TracingBenchResult:
    """What tracing costs: per span kind, and on a whole agent run against the goal fraction."""

    exporter: str
    span_costs: list[SpanCost]
    run: RunOverhead
    run_description: str
    goal_fraction: float = GOAL_FRACTION

    @property
    def meets_goal(self) -> bool:
        """The estimate is under the goal and the A/B measurement does not contradict it beyond its noise."""
        run = self.run
        return (
            run.estimated_fraction < self.goal_fraction
            and run.measured_fraction - run.measured_noise < self.goal_fraction
        )

    def to_dict(self) -> dict[str, object]:
        """The result as JSON with its derived figures, so the results file can be read without this code."""
        costs = [asdict(c) | {"added_us": c.added_us} for c in self.span_costs]
        return asdict(self) | {"span_costs": costs, "meets_goal": self.meets_goal, "verdict": self.verdict}

    @property
    def verdict(self) -> str:
        """The goal in words: missed, met, or met with the A/B measurement within its noise."""
        if not self.meets_goal:
            return "missed"
        if self.run.measured_fraction < self.goal_fraction:
            return "met"
        return "met (A/B within noise)"


class _CountingProcessor(SpanProcessor):
    def __init__(self) -> None:
        self.count = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        self.count += 1


def _loop_span(n: int) -> None:
    for _ in range(n):
        with tracing.span("bench.span", attributes={"i": 1}):
            pass


def _loop_model_span(n: int) -> None:
    for _ in range(n):
        with tracing.model_span(
            model="qwen2.5-coder-0.5b",
            provider="llama.cpp",
            temperature=0.0,
            max_tokens=256,
            prompt_file="code_agent.yaml",
            prompt_hash="0" * 64,
        ) as ms:
            ms.first_token()
            ms.set_result(input_tokens=120, output_tokens=40, finish_reasons=["stop"])


def _time_chunks(body: Callable[[int], None], n: int, flush: bool) -> tuple[float, float]:
    """(seconds in the traced code, seconds including flushing each chunk to the exporter)."""
    hot = total = 0.0
    done = 0
    while done < n:
        chunk = min(_CHUNK, n - done)
        t0 = time.perf_counter()
        body(chunk)
        t1 = time.perf_counter()
        if flush:
            tracing.force_flush(timeout_s=30.0)
        t2 = time.perf_counter()
        hot += t1 - t0
        total += t2 - t0
        done += chunk
    return hot, total


def measure_span_cost(kind: str, body: Callable[[int], None], n: int) -> SpanCost:
    """Cost per span of `body(n)` (n spans) with tracing on, export included, and suspended."""
    if tracing.state() is None:
        raise ConfigError("measure_span_cost needs tracing set up: call nativa.tracing.setup(settings) first")
    body(min(n, 200))  # warm caches and lazy imports on both paths
    tracing.force_flush(timeout_s=30.0)
    with tracing.suspended():
        off, _ = _time_chunks(body, n, flush=False)
    hot, total = _time_chunks(body, n, flush=True)
    return SpanCost(
        kind=kind, spans=n, on_us=hot / n * 1e6, on_with_export_us=total / n * 1e6, off_us=off / n * 1e6
    )


def measure_run_overhead(
    run: Callable[[], object], repeats: int, span_cost_us: float | None = None
) -> RunOverhead:
    """Time `run()` `repeats` times with tracing on and off, alternating; tracing must be set up.

    `span_cost_us` (export included) turns the span count into the estimated share; measured here when None.
    """
    if tracing.state() is None:
        raise ConfigError(
            "measure_run_overhead needs tracing set up: call nativa.tracing.setup(settings) first"
        )
    if repeats < 1:
        raise ConfigError(f"repeats={repeats}: measure at least one run per side")
    counter = _CountingProcessor()
    tracing.add_span_processor(counter)
    run()  # warm-up, traced: also counts the spans of one run
    tracing.force_flush(timeout_s=30.0)
    spans_per_run = counter.count
    with tracing.suspended():
        run()
    on: list[float] = []
    off: list[float] = []
    for i in range(repeats):
        for side in ("on", "off") if i % 2 == 0 else ("off", "on"):
            t0 = time.perf_counter()
            if side == "on":
                run()
                on.append(time.perf_counter() - t0)
            else:
                with tracing.suspended():
                    run()
                off.append(time.perf_counter() - t0)
        tracing.force_flush(timeout_s=30.0)  # between pairs, so one side never pays the other's export
    if span_cost_us is None:
        span_cost_us = measure_span_cost("span", _loop_span, 2000).added_us
    on_med, off_med = median(on), median(off)
    # Each on-run is paired with the off-run next to it in time, so slow drift (other jobs on the machine)
    # cancels out of the difference; the median of the differences shrugs off single outliers.
    diffs = sorted(a - b for a, b in zip(on, off, strict=True))
    q1, q3 = diffs[len(diffs) // 4], diffs[(3 * len(diffs)) // 4]
    return RunOverhead(
        runs=repeats,
        spans_per_run=spans_per_run,
        on_median_s=on_med,
        off_median_s=off_med,
        measured_fraction=median(diffs) / off_med if off_med > 0 else 0.0,
        measured_noise=(q3 - q1) / 2 / off_med if off_med > 0 else 0.0,
        estimated_fraction=spans_per_run * span_cost_us * 1e-6 / off_med if off_med > 0 else 0.0,
        on_runs_s=on,
        off_runs_s=off,
    )


def _cpu_work(rounds: int) -> bytes:
    """Deterministic CPU work standing in for token generation (the same amount on both sides)."""
    digest = b"nativa"
    for _ in range(rounds):
        digest = hashlib.sha256(digest * 64).digest()
    return digest


def calibrate_rounds(target_s: float) -> int:
    """How many rounds of the CPU work take about `target_s` on this machine, so runs are comparable."""
    t0 = time.perf_counter()
    _cpu_work(2000)
    per_round = (time.perf_counter() - t0) / 2000
    return max(1, int(target_s / per_round))


def simulated_agent_run(attempts: int = 3, model_rounds: int = 20000, tokens: int = 40) -> None:
    """invoke_agent > attempt N > (chat model: CPU work, streamed; sandbox: a real child process; a tool)."""
    with tracing.agent_span("bench_agent", model="qwen2.5-coder-0.5b", provider="llama.cpp"):
        for n in range(1, attempts + 1):
            with tracing.attempt_span(n):
                with tracing.model_span(
                    model="qwen2.5-coder-0.5b",
                    provider="llama.cpp",
                    temperature=0.0,
                    max_tokens=256,
                    prompt_file="code_agent.yaml",
                    prompt_hash="0" * 64,
                ) as ms:
                    ms.set_input_messages([{"role": "user", "content": "write fizzbuzz"}])
                    per_token = max(1, model_rounds // tokens)
                    for _ in range(tokens):
                        _cpu_work(per_token)
                        ms.first_token()
                    ms.set_result(input_tokens=120, output_tokens=tokens, finish_reasons=["stop"])
                with tracing.sandbox_span("A") as sb:
                    t0 = time.perf_counter()
                    proc = subprocess.run(
                        [sys.executable, "-S", "-c", "print(sum(range(1000)))"],
                        capture_output=True,
                        check=False,
                    )
                    sb.set_result(
                        {
                            "tier": "A",
                            "duration_s": time.perf_counter() - t0,
                            "exit_code": proc.returncode,
                            "layers": ["bwrap", "seccomp", "rlimits"],
                        }
                    )
                with tracing.tool_span("python"):
                    _cpu_work(per_token)


def run_tracing_bench(spans: int = 20000, runs: int = 15, model_work_s: float = 0.05,
                      agent_run: Callable[[], object] | None = None,
                      agent_description: str | None = None) -> TracingBenchResult:
    """The whole benchmark, on a throwaway trace store; the process's own tracing is restored afterwards."""
    previous = tracing.state()
    previous_settings = previous.settings if previous else None
    tracing.shutdown()
    try:
        with tempfile.TemporaryDirectory(prefix="nativa-bench-tracing-") as home:
            tracing.setup(Settings(home=Path(home)), exporters=["jsonl"])
            try:
                costs = [
                    measure_span_cost("span (empty)", _loop_span, spans),
                    measure_span_cost("model span (GenAI attrs + metrics)", _loop_model_span, spans),
                ]
                if agent_run is None:
                    rounds = calibrate_rounds(model_work_s)
                    agent_run = lambda: simulated_agent_run(model_rounds=rounds)
                overhead = measure_run_overhead(agent_run, runs, span_cost_us=max(c.added_us for c in costs))
            finally:
                tracing.shutdown()
    finally:
        if previous is not None:
            tracing.setup(previous_settings)
    description = agent_description or (
        f"simulated agent run: 3 attempts x (model call ~{model_work_s * 1000:.0f} ms CPU streamed as "
        "40 chunks, sandbox = real child python process, one tool call); a real run is far longer"
    )
    return TracingBenchResult(
        exporter="jsonl (batched)", span_costs=costs, run=overhead, run_description=description
    )


def render(result: TracingBenchResult) -> RenderableType:
    """Per-span costs with tracing on and off, as `nativa bench tracing` prints them."""
    table = Table(title=f"tracing cost per span, exporter {result.exporter}")
    for column in ("span kind", "on (µs, hot path)", "on incl. export (µs)", "off (µs)", "added (µs)"):
        table.add_column(column, justify="left" if column == "span kind" else "right")
    for c in result.span_costs:
        table.add_row(
            c.kind, f"{c.on_us:.1f}", f"{c.on_with_export_us:.1f}", f"{c.off_us:.2f}", f"{c.added_us:.1f}"
        )
    r = result.run
    runs = Table(title="share of an agent run spent in tracing (on vs off, same process, alternating)")
    for column in (
        "runs/side",
        "spans/run",
        "median on",
        "median off",
        "measured share",
        "estimated share",
        "goal",
    ):
        runs.add_column(column, justify="right")
    verdict = Text(
        f"{result.verdict} (< {result.goal_fraction:.0%})", style="green" if result.meets_goal else "red"
    )
    runs.add_row(
        str(r.runs),
        str(r.spans_per_run),
        f"{r.on_median_s * 1000:.1f} ms",
        f"{r.off_median_s * 1000:.1f} ms",
        f"{r.measured_fraction:.2%} ± {r.measured_noise:.2%}",
        f"{r.estimated_fraction:.3%}",
        verdict,
    )
    note = Text(
        result.run_description + ". measured = median of paired (on - off) run-time differences / median "
        "off (± half their interquartile range: machine noise, can make it negative); estimated = spans/run "
        "x added µs/span (export included) / run time.",
        style="dim",
    )
    return Group(table, runs, note)
