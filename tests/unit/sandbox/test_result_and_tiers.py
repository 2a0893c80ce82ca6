"""How observations become a RunResult (killed_by precedence), and how a tier is chosen or refused."""

from __future__ import annotations

import pytest

from nativa.errors import BadInputError, SandboxUnavailableError
from nativa.sandbox import Limits, RunResult
from nativa.sandbox._worker import RawOutcome
from nativa.sandbox.probe import ProbeReport
from nativa.sandbox.sandbox import build_result, resolve_tier


def _build(raw: RawOutcome, tier: str = "A") -> RunResult:
    return build_result(raw, tier=tier, layers=["seccomp"], limits=Limits(timeout_s=2, memory_mb=256))  # type: ignore[arg-type]


def test_result_round_trips_through_json_with_bytes() -> None:
    r = RunResult(ok=True, exit_code=0, stdout="hi\n", files_out={"a.bin": b"\x00\xff"}, layers=["bwrap"], tier="A")
    d = r.to_dict()
    assert d["files_out"] == {"a.bin": "AP8="}
    assert RunResult.from_dict(d) == r


def test_a_finished_run_reports_the_codes_own_outcome() -> None:
    done = {"ok": False, "exit_code": 1, "error_type": "KeyError", "error_message": "'k'", "traceback": "tb",
            "files": {"out.txt": "eA==", "../evil": "eA==", "/abs": "eA=="}, "files_truncated": False}
    r = _build(RawOutcome(done=done, stdout=b"x\xff", duration_s=0.25))
    assert (r.ok, r.exit_code, r.error_type, r.killed_by) == (False, 1, "KeyError", None)
    assert r.files_out == {"out.txt": b"x"}  # names that would escape a caller's directory are dropped
    assert r.stdout == "x\ufffd" and r.duration_s == 0.25


def test_uncaught_memory_error_is_killed_by_memory() -> None:
    done = {"ok": False, "exit_code": 1, "error_type": "MemoryError", "error_message": ""}
    r = _build(RawOutcome(done=done))
    assert (r.killed_by, r.error_type) == ("memory", "MemoryError") and "256 MB" in (r.error_message or "")


def test_any_oom_kill_fails_the_run_even_if_the_code_finished() -> None:
    r = _build(RawOutcome(done={"ok": True, "exit_code": 0}, oom_killed=True))
    assert (r.ok, r.killed_by, r.error_type) == (False, "memory", "MemoryError")


@pytest.mark.parametrize(("tier", "status", "killed", "exit_code", "etype"), [
    ("A", 137, "signal", -9, "Killed"),         # bwrap: 128 + SIGKILL
    ("A", 128 + 24, "timeout", -24, "TimeoutError"),  # SIGXCPU: the CPU-time backstop
    ("B", -11, "signal", -11, "Killed"),
    ("B", 5, None, 5, None),                    # os._exit(5): a plain failure, not a kill
    ("B", 0, None, 0, None),                    # os._exit(0): success
])
def test_deaths_without_a_result(tier: str, status: int, killed: str | None, exit_code: int, etype: str | None) -> None:
    r = _build(RawOutcome(done=None, exit_status=status), tier)
    assert (r.killed_by, r.exit_code, r.error_type) == (killed, exit_code, etype)
    assert r.ok is (status == 0)


def test_host_side_kills_win_over_the_exit_status() -> None:
    r = _build(RawOutcome(done=None, exit_status=137, killed_by="timeout"))
    assert (r.killed_by, r.error_type) == ("timeout", "TimeoutError") and "2 s" in (r.error_message or "")
    r = _build(RawOutcome(done=None, exit_status=137, killed_by="output", stdout_truncated=True))
    assert (r.killed_by, r.error_type, r.stdout_truncated) == ("output", "OutputLimitExceeded", True)


def _report(available: list[str], tier: str) -> ProbeReport:
    return ProbeReport(tier=tier, layers=[], available=available, is_root=True, seccomp=True,  # type: ignore[arg-type]
                       landlock_abi=6, cgroup_layers=["cgroup-memory"], notes=["bwrap missing"])


def test_tier_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NATIVA_SANDBOX_ALLOW_WEAK", raising=False)
    full = _report(["A", "B", "weak", "none"], "A")
    assert resolve_tier(full, None, None) == "A"
    assert resolve_tier(full, "B", None) == "B"
    with pytest.raises(BadInputError, match="tier"):
        resolve_tier(full, "C", None)
    no_a = _report(["B", "weak", "none"], "B")
    with pytest.raises(SandboxUnavailableError, match="tier A is not available.*bwrap missing"):
        resolve_tier(no_a, "A", None)


def test_weak_is_refused_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NATIVA_SANDBOX_ALLOW_WEAK", raising=False)
    weak = _report(["weak", "none"], "weak")
    with pytest.raises(SandboxUnavailableError, match="allow_weak=True.*NATIVA_SANDBOX_ALLOW_WEAK=1"):
        resolve_tier(weak, None, None)
    assert resolve_tier(weak, None, True) == "weak"
    monkeypatch.setenv("NATIVA_SANDBOX_ALLOW_WEAK", "1")
    assert resolve_tier(weak, None, None) == "weak"
    with pytest.raises(SandboxUnavailableError):
        resolve_tier(weak, None, False)  # an explicit False beats the environment


def test_layers_by_tier_and_network() -> None:
    rep = _report(["A", "B", "weak", "none"], "A")
    a = rep.layers_for("A")
    assert {"bwrap", "pid-ns", "net-ns", "uid-drop", "seccomp", "no-inet-sockets", "cgroup-memory"} <= set(a)
    a_net = rep.layers_for("A", allow_network=True)
    assert "net-ns" not in a_net and "no-inet-sockets" not in a_net and "seccomp" in a_net
    b = rep.layers_for("B")
    assert {"landlock-fs", "landlock-net", "landlock-scope", "uid-drop"} <= set(b) and "bwrap" not in b
