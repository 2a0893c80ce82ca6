"""`nativa bench sandbox`: what does isolation cost at start-up, against a plain subprocess in the same run?

Four ways to run `print(1)` and wait for its result, measured start-to-exit, alternating in every round so
machine noise hits all alike: a plain `subprocess.run([python, "-c", ...])` (no isolation, the baseline),
a one-shot sandbox (`Sandbox.run`: bwrap, uid, seccomp, cgroups, interpreter start-up, full cleanup), a
pooled sandbox (`SandboxPool.run`: pre-started and already confined; the pool is refilled *between*
measurements, so no round pays for another's start-up) and a snippet in a live `SandboxSession`.
Goals: one-shot <= 2x plain; pooled and session snippet <= 0.5x plain.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from rich.table import Table

from nativa.bench._stats import median, percentile, ratio
from nativa.bench._stats import timed as _timed
from nativa.errors import SandboxError

CODE = "print(1)"
GOALS = {"oneshot": 2.0, "pooled": 0.5, "session": 0.5}


@dataclass
class SandboxBenchResult:
    """Medians in seconds, and each sandbox mode as a ratio of the plain subprocess of the same run."""

    runs: int
    tier: str
    layers: list[str]
    plain_s: float
    oneshot_s: float
    pooled_s: float
    session_s: float
    p90_s: dict[str, float] = field(default_factory=dict)
    cpus: int = 0
    load_avg_1m: float = 0.0

    @property
    def ratios(self) -> dict[str, float]:
        """Each mode's median over a plain subprocess's: what the isolation costs."""
        return {"oneshot": ratio(self.oneshot_s, self.plain_s), "pooled": ratio(self.pooled_s, self.plain_s),
                "session": ratio(self.session_s, self.plain_s)}

    @property
    def goals_met(self) -> dict[str, bool]:
        """Whether each mode's ratio is within its goal."""
        return {k: v <= GOALS[k] for k, v in self.ratios.items()}

    def to_dict(self) -> dict[str, object]:
        """The result as JSON with its derived figures, so the results file can be read without this code."""
        return asdict(self) | {"ratios": self.ratios, "goals": GOALS, "goals_met": self.goals_met}


def run_sandbox_bench(runs: int = 20, *, allow_weak: bool | None = None,
                      log: Callable[[str], None] | None = None) -> SandboxBenchResult:
    """Measure the four modes `runs` times each, interleaved; every sandboxed run is checked for "1\\n"."""
    from nativa.sandbox import Sandbox, SandboxPool, SandboxSession

    sandbox = Sandbox(allow_weak=allow_weak)
    plain_cmd = [sys.executable, "-c", CODE]

    def plain() -> None:
        out = subprocess.run(plain_cmd, capture_output=True, check=True)
        if out.stdout != b"1\n":
            raise SandboxError(f"plain python printed {out.stdout!r}")

    def check(result: object) -> None:
        if getattr(result, "stdout", None) != "1\n":
            raise SandboxError(f"the sandboxed print(1) failed: {result!r}")

    samples: dict[str, list[float]] = {"plain": [], "oneshot": [], "pooled": [], "session": []}
    with SandboxPool(1, sandbox=sandbox) as pool, SandboxSession(sandbox=sandbox) as session:
        # Warm-up (not measured): page cache, the seccomp program, the tracing import.
        plain()
        check(sandbox.run(CODE))
        check(session.run(CODE))
        pool.wait_ready()
        check(pool.run(CODE))
        for i in range(runs):
            if log and (i + 1) % 5 == 0:
                log(f"round {i + 1}/{runs}")
            samples["plain"].append(_timed(plain))
            samples["oneshot"].append(_timed(lambda: check(sandbox.run(CODE))))
            pool.wait_ready()
            samples["pooled"].append(_timed(lambda: check(pool.run(CODE))))
            samples["session"].append(_timed(lambda: check(session.run(CODE))))
            pool.wait_ready()
    return SandboxBenchResult(
        runs=runs, tier=sandbox.tier, layers=sandbox.layers,
        plain_s=median(samples["plain"]), oneshot_s=median(samples["oneshot"]),
        pooled_s=median(samples["pooled"]), session_s=median(samples["session"]),
        p90_s={k: percentile(v, 90) for k, v in samples.items()},
        cpus=os.cpu_count() or 0, load_avg_1m=round(os.getloadavg()[0], 2),
    )


def render(result: SandboxBenchResult) -> Table:
    """Start-to-exit times per sandbox mode against a plain subprocess (`nativa bench sandbox`)."""
    table = Table("mode", "median", "p90", "ratio to plain", "goal", "met",
                  title=f"sandbox start-to-exit of print(1), tier {result.tier}, {result.runs} runs "
                        f"({result.cpus} CPUs, load {result.load_avg_1m})")
    table.add_row("plain subprocess", f"{result.plain_s * 1000:.1f} ms", f"{result.p90_s.get('plain', 0) * 1000:.1f} ms",
                  "1.00", "", "")
    for key, label in (("oneshot", "one-shot sandbox"), ("pooled", "pooled sandbox"), ("session", "session snippet")):
        value = getattr(result, f"{key}_s")
        table.add_row(label, f"{value * 1000:.1f} ms", f"{result.p90_s.get(key, 0) * 1000:.1f} ms",
                      f"{result.ratios[key]:.2f}", f"<= {GOALS[key]}", "yes" if result.goals_met[key] else "NO")
    return table
