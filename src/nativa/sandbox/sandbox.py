"""`Sandbox`: run one piece of model-written code in a fresh sandbox and get a `RunResult`.

The tier is chosen once per process by `probe()`; a caller may ask for a *lower* tier (tests run the same
battery against A and B), never a higher one. Below tier B nothing runs unless the caller opts in with
`allow_weak=True` or `NATIVA_SANDBOX_ALLOW_WEAK=1`, and then every run logs a warning, so a weak sandbox is
always a visible decision, never an accident.
"""

from __future__ import annotations

import logging
import os
import sysconfig
from typing import TYPE_CHECKING, Any, Self

from nativa.config import load_settings
from nativa.errors import BadInputError, SandboxUnavailableError
from nativa.sandbox._common import build_result, encode_request, max_result_bytes, record, traced
from nativa.sandbox._host import HostContext, host_context
from nativa.sandbox._worker import SpawnSpec, Worker
from nativa.sandbox.limits import Limits
from nativa.sandbox.probe import TIER_ORDER, ProbeReport, Tier, probe
from nativa.sandbox.result import RunResult

if TYPE_CHECKING:
    from nativa.sandbox.pool import SandboxPool

log = logging.getLogger("nativa.sandbox")


def weak_allowed_by_env() -> bool:
    """`NATIVA_SANDBOX_ALLOW_WEAK=1` (this process's settings): the documented opt-in when the caller passes
    no `allow_weak`."""
    return load_settings().sandbox_allow_weak


def resolve_tier(report: ProbeReport, requested: str | None, allow_weak: bool | None) -> Tier:
    """The tier to use, or SandboxUnavailableError naming what is missing and how to opt in."""
    if requested is not None and requested not in TIER_ORDER:
        raise BadInputError(f"tier={requested!r} is invalid: use one of {', '.join(TIER_ORDER)}")
    tier: Tier = requested if requested is not None else report.tier  # type: ignore[assignment]
    if tier not in report.available:
        why = "; ".join(report.notes) or "see `nativa doctor`"
        raise SandboxUnavailableError(f"sandbox tier {tier} is not available on this host ({why}); "
                                      f"available: {', '.join(report.available)}")
    if allow_weak is None:
        allow_weak = weak_allowed_by_env()
    if tier in ("weak", "none") and not allow_weak:
        why = "; ".join(report.notes) or "no strong isolation"
        raise SandboxUnavailableError(
            f"the best sandbox on this host is tier {tier!r} ({why}); refusing to run model-written code. "
            "Install bubblewrap for tier A, or pass allow_weak=True / set NATIVA_SANDBOX_ALLOW_WEAK=1 to accept it")
    return tier


class Sandbox:
    """Runs code in a fresh sandbox per call (or a pre-started one from its pool, with `pool_size > 0`).

    Thread-safe: each call gets its own sandbox, uid and cgroup.
    """

    def __init__(self, *, allow_weak: bool | None = None, tier: Tier | None = None, limits: Limits | None = None,
                 site_packages: bool = False, pool_size: int = 0,
                 runtime_dir: str | os.PathLike[str] | None = None) -> None:
        self.report = probe()
        self.tier: Tier = resolve_tier(self.report, tier, allow_weak)
        self.limits = limits or Limits()
        self.site_packages: tuple[str, ...] = (sysconfig.get_paths()["purelib"],) if site_packages else ()
        self.ctx: HostContext = host_context(runtime_dir)
        self._pool: SandboxPool | None = None
        if pool_size:
            from nativa.sandbox.pool import SandboxPool

            self._pool = SandboxPool(pool_size, sandbox=self)

    @property
    def layers(self) -> list[str]:
        """The isolation layers a run gets on this host, recorded in each result and trace."""
        return self.report.layers_for(self.tier)

    def warn_if_weak(self) -> None:
        """Say so on every run when isolation is weaker than tier B: a weak sandbox must never pass silently.
        """
        if self.tier in ("weak", "none"):
            log.warning("running model-written code in a WEAK sandbox (tier %s, layers: %s): it is not isolated "
                        "from this host", self.tier, ", ".join(self.report.layers_for(self.tier)))

    def spec(self, *, mode: str, allow_network: bool, limits: Limits, pooled: bool = False) -> SpawnSpec:
        """The process spec (argv, environment, limits) for one run, shared by one-shot runs, sessions and the
        pool.
        """
        return SpawnSpec(tier=self.tier, mode=mode, allow_network=allow_network, limits=limits,
                         site_packages=self.site_packages, pooled=pooled)

    def run(self, code: str, *, files: dict[str, bytes | str] | None = None, stdin: bytes | str | None = None,
            timeout_s: float | None = None, memory_mb: int | None = None, max_output_bytes: int | None = None,
            allow_network: bool = False, filename: str = "main.py") -> RunResult:
        """Run `code` as a script (`__name__ == "__main__"`) in a fresh sandbox; the code's failure is a result."""
        limits = self.limits.with_overrides(timeout_s=timeout_s, memory_mb=memory_mb,
                                            max_output_bytes=max_output_bytes)
        request = encode_request(code, files=files, stdin=stdin, limits=limits, filename=filename)
        if self._pool is not None and not allow_network:
            return self._pool.run_request(request, limits)
        return self.run_request(request, limits, allow_network=allow_network)

    def run_request(self, request: dict[str, Any], limits: Limits, *, allow_network: bool = False,
                    mode: str = "oneshot") -> RunResult:
        """Run a prepared request at this sandbox's tier; the building block under `run`, sessions and pooled
        runs.
        """
        self.warn_if_weak()
        layers = self.report.layers_for(self.tier, allow_network=allow_network)
        with traced(mode, self.tier) as attrs:
            worker = Worker(self.report, self.spec(mode="oneshot", allow_network=allow_network, limits=limits),
                            self.ctx)
            try:
                raw = worker.execute(request, timeout_s=limits.timeout_s, max_output_bytes=limits.max_output_bytes,
                                     max_result_bytes=max_result_bytes(limits), cpu_budget_s=limits.cpu_budget_s)
            finally:
                worker.close()
            result = build_result(raw, tier=self.tier, layers=layers, limits=limits)
            record(attrs, result)
        return result

    def close(self) -> None:
        """Stop pre-started interpreters: they are processes of ours and must not outlive the caller."""
        if self._pool is not None:
            self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
