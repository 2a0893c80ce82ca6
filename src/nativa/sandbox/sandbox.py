"""`Sandbox`: run one piece of model-written code in a fresh sandbox and get a `RunResult`.

The tier is chosen once per process by `probe()`; a caller may ask for a *lower* tier (tests run the same
battery against A and B), never a higher one. Below tier B nothing runs unless the caller opts in with
`allow_weak=True` or `NATIVA_SANDBOX_ALLOW_WEAK=1`, and then every run logs a warning, so a weak sandbox is
always a visible decision, never an accident.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import signal
import sys
import sysconfig
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Self

from nativa.errors import BadInputError, SandboxUnavailableError
from nativa.sandbox._host import HostContext, host_context
from nativa.sandbox._worker import RawOutcome, SpawnSpec, Worker
from nativa.sandbox.limits import Limits, check_files
from nativa.sandbox.probe import TIER_ORDER, ProbeReport, Tier, probe
from nativa.sandbox.result import RunResult

if TYPE_CHECKING:
    from nativa.sandbox.pool import SandboxPool

log = logging.getLogger("nativa.sandbox")

_TRUTHY = {"1", "true", "yes", "on"}


def weak_allowed_by_env() -> bool:
    """`NATIVA_SANDBOX_ALLOW_WEAK=1`: the documented opt-in when the caller passes no `allow_weak`."""
    return os.environ.get("NATIVA_SANDBOX_ALLOW_WEAK", "").strip().lower() in _TRUTHY


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


def encode_request(code: str, *, files: dict[str, bytes | str] | None, stdin: bytes | str | None,
                   limits: Limits, filename: str) -> dict[str, Any]:
    if not isinstance(code, str):
        raise BadInputError(f"code must be a str of Python source, not {type(code).__name__}")
    if stdin is not None and not isinstance(stdin, bytes | bytearray | str):
        raise BadInputError(f"stdin must be bytes, str or None, not {type(stdin).__name__}")
    if not isinstance(filename, str) or not filename or "/" in filename or "\x00" in filename:
        raise BadInputError(f"filename={filename!r} is invalid: use a plain name such as 'main.py'")
    checked = check_files(files, limits)
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return {
        "code": code, "filename": filename,
        "stdin": base64.b64encode(data).decode() if data else None,
        "files": {k: base64.b64encode(v).decode() for k, v in checked.items()},
        "limits": limits.runner_limits(), "max_files_out": limits.max_files_out_bytes,
    }


def max_result_bytes(limits: Limits) -> int:
    """The most the result channel may carry: base64 files plus message and traceback, with headroom."""
    return limits.max_files_out_bytes * 4 // 3 + 1_000_000


def _safe_name(name: object) -> bool:
    return isinstance(name, str) and bool(name) and not name.startswith("/") and ".." not in name.split("/")


def build_result(raw: RawOutcome, *, tier: Tier, layers: list[str], limits: Limits) -> RunResult:
    """Turn what the host observed into a `RunResult`, deciding `killed_by` from facts the code cannot fake.

    Any OOM kill inside the sandbox ends the run as killed_by="memory" (the host kills the rest at once), so
    the outcome does not depend on which process the kernel happened to pick.
    """
    done = raw.done
    killed = raw.killed_by
    error_type = error_message = tb = None
    files: dict[str, bytes] = {}
    files_truncated = False
    sig = 0
    if done is not None and killed is None:
        ok = bool(done.get("ok"))
        exit_code: int | None = int(done.get("exit_code", 1))
        error_type, error_message, tb = done.get("error_type"), done.get("error_message"), done.get("traceback")
        if error_type == "MemoryError" or raw.oom_killed:
            killed = "memory"
        for name, b64 in (done.get("files") or {}).items():
            if _safe_name(name) and isinstance(b64, str):
                with contextlib.suppress(ValueError):
                    files[name] = base64.b64decode(b64, validate=True)
        files_truncated = bool(done.get("files_truncated"))
    else:
        status = raw.exit_status
        if status is not None:
            if status < 0:
                sig = -status
            elif tier == "A" and status > 128:
                sig = status - 128  # bwrap reports a child killed by signal N as 128 + N
        if killed is None:
            if raw.oom_killed:
                killed = "memory"
            elif sig == signal.SIGXCPU:
                killed = "timeout"
            elif sig:
                killed = "signal"
        exit_code = -sig if sig else status
        ok = killed is None and status == 0 and not raw.lost
        if not ok and killed is None:
            error_message = (f"the process exited with status {status} before finishing" if not raw.lost or status
                             else "the sandbox ended without a verdict (its supervisor was stopped or killed)")
    if killed is not None and error_type is None:
        error_type, error_message = _killed_error(killed, limits, sig, raw)
    elif killed == "memory" and not error_message:
        error_message = f"an allocation was refused: the code reached its {limits.memory_mb} MB memory limit"
    return RunResult(
        ok=ok and killed is None, exit_code=exit_code,
        stdout=raw.stdout.decode("utf-8", "replace"), stderr=raw.stderr.decode("utf-8", "replace"),
        stdout_truncated=raw.stdout_truncated, stderr_truncated=raw.stderr_truncated,
        error_type=error_type, error_message=error_message, traceback=tb, duration_s=round(raw.duration_s, 6),
        killed_by=killed, tier=tier, layers=list(layers), files_out=files, files_out_truncated=files_truncated,
        cpu_s=raw.cpu_s,
    )


def _killed_error(killed: str, limits: Limits, sig: int, raw: RawOutcome) -> tuple[str, str]:
    if killed == "timeout" and raw.kill_detail == "cpu":
        return "TimeoutError", (f"the code used more than {limits.cpu_budget_s:g} s of CPU time (all its processes "
                                "together) and was killed")
    if killed == "timeout":
        return "TimeoutError", f"the code ran past its {limits.timeout_s:g} s time limit and was killed"
    if killed == "disk":
        why = f" ({raw.notes[-1]})" if raw.notes else ""
        return "DiskLimitExceeded", (f"the code wrote more than {limits.max_file_mb} MB or {limits.max_inodes} files "
                                     f"to its work dir or /tmp and was killed{why}")
    if killed == "memory":
        return "MemoryError", f"the code exceeded its {limits.memory_mb} MB memory limit and was killed"
    if killed == "output":
        return "OutputLimitExceeded", f"the code wrote more than {limits.max_output_bytes} bytes of output and was killed"
    return "Killed", f"the code was killed by signal {_signame(sig)}"


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


@contextlib.contextmanager
def traced(mode: str, tier: str) -> Iterator[dict[str, Any]]:
    """A `nativa.sandbox.run` span per run, when the application uses nativa.tracing.

    Importing the tracing stack costs ~0.2 s (the OpenTelemetry SDK); a process that never imported it has
    no exporter to send spans to, so the sandbox does not pay for it on its behalf.
    """
    holder: dict[str, Any] = {}
    if "nativa.tracing" not in sys.modules:
        yield holder
        return
    try:
        from opentelemetry import trace

        from nativa.tracing import sandbox_attributes, sandbox_span
        from nativa.tracing.genai import SANDBOX_SPAN
    except ImportError:
        yield holder
        return
    current = trace.get_current_span()
    if getattr(current, "name", None) == SANDBOX_SPAN and current.is_recording():
        # The caller (the agent) already opened this run's span: fill it in rather than nest a second one,
        # which would count the run twice in the sandbox metrics.
        yield holder
        current.set_attribute("nativa.sandbox.mode", mode)
        if "result" in holder:
            sandbox_attributes(current, holder["result"])
        return
    with sandbox_span(tier, attributes={"nativa.sandbox.mode": mode}) as span:
        yield holder
        if "result" in holder:
            span.set_result(holder["result"])


def record(holder: dict[str, Any], result: RunResult) -> None:
    holder["result"] = result


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
