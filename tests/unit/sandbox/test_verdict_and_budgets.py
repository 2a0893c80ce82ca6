"""Issue 11 (sandbox): the verdict rule, the type-checking of the code's own report, the new limits, the disk
guard's accounting and the AF_UNIX rule of the seccomp program -- everything that needs no real sandbox."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nativa.errors import BadInputError
from nativa.sandbox import Limits, RunResult, seccomp
from nativa.sandbox._outcome import RawOutcome, merge, parse, report
from nativa.sandbox.probe import ProbeReport
from nativa.sandbox.sandbox import build_result
from nativa.sandbox.workdir import DiskGuard

LIMITS = Limits(timeout_s=2, memory_mb=256, max_cpu_s=1.5)
FORGED_OK = {"e": "result", "ok": True, "exit_code": 0, "files": {}}
FAILURE = {"e": "result", "ok": False, "exit_code": 1, "error_type": "AssertionError", "error_message": "real",
           "traceback": "tb", "files": {}}


def _result(verdict: dict | None, reports: list[dict], **raw: object) -> RunResult:
    out = RawOutcome(**raw)  # type: ignore[arg-type]
    merge(out, verdict, reports)
    return build_result(out, tier="A", layers=["seccomp"], limits=LIMITS)


@pytest.mark.parametrize("reports", [[], [FORGED_OK], [FORGED_OK, FORGED_OK]])
def test_a_failed_exit_status_is_a_failure_whatever_the_code_reported(reports: list[dict]) -> None:
    r = _result({"e": "done", "status": 1, "t0": 1.0, "t1": 2.0}, reports)
    assert (r.ok, r.exit_code) == (False, 1) and r.error_message == "the process exited with status 1"


def test_any_failed_report_fails_a_run_that_exited_with_status_0() -> None:
    """The executor reports an uncaught exception before atexit runs; a later os._exit(0) and a forged
    success record do not undo it."""
    r = _result({"e": "done", "status": 0}, [FAILURE, FORGED_OK])
    assert (r.ok, r.error_type, r.error_message, r.exit_code) == (False, "AssertionError", "real", 0)


def test_status_0_and_no_failed_report_is_a_success() -> None:
    r = _result({"e": "done", "status": 0}, [{**FORGED_OK, "error_type": "MemoryError"}])
    assert r.ok and r.error_type is None and r.killed_by is None
    assert _result({"e": "done", "status": 0}, []).ok  # os._exit(0): the code's own exit status


def test_a_death_by_signal_is_reported_from_the_verdict() -> None:
    r = _result({"e": "done", "signal": 9}, [FORGED_OK])
    assert (r.ok, r.killed_by, r.exit_code) == (False, "signal", -9)


@pytest.mark.parametrize("verdict", [{"e": "done"}, {"e": "done", "status": "0"}, {"e": "done", "status": True},
                                     {"e": "done", "status": 300}])
def test_a_verdict_without_a_valid_status_is_a_failure(verdict: dict) -> None:
    r = _result(verdict, [FORGED_OK], exit_status=0)
    assert not r.ok and "without a verdict" in (r.error_message or "")


def test_an_ended_sandbox_without_a_verdict_is_a_failure_even_with_status_0() -> None:
    r = build_result(RawOutcome(exit_status=0, lost=True), tier="B", layers=[], limits=LIMITS)
    assert not r.ok and "supervisor" in (r.error_message or "")


def test_a_session_snippet_is_what_its_interpreter_reports() -> None:
    assert _result(None, [FORGED_OK]).ok  # a session's report is all there is: the README says so
    r = _result(None, [{"e": "result"}])
    assert (r.ok, r.exit_code) == (False, 1)


@pytest.mark.parametrize("field", ["ok", "exit_code", "error_type", "error_message", "traceback", "files"])
def test_a_report_of_the_wrong_types_never_breaks_the_host(field: str) -> None:
    for bad in ("1", 1.5, [1], {"a": 1}, None, True, 10**30, float("nan")):
        rep = report({**FAILURE, field: bad})
        assert isinstance(rep.get("exit_code", 0), int)
        assert all(isinstance(rep.get(k, ""), str) for k in ("error_type", "error_message", "traceback"))
        _result({"e": "done", "status": 1}, [{**FAILURE, field: bad}])


def test_reports_are_size_capped_and_garbage_lines_read_as_nothing() -> None:
    rep = report({**FAILURE, "traceback": "x" * 10**6, "files": {"a": "eA==", "b": 3}})
    assert len(rep["traceback"]) < 200_000 and rep["files"] == {"a": "eA=="} and rep["files_truncated"]
    assert parse(b"[1, 2]") == {} and parse(b"\xff") == {} and parse(b"[" * 100_000) == {}


def test_the_cpu_budget_kill_says_so() -> None:
    r = build_result(RawOutcome(killed_by="timeout", kill_detail="cpu", cpu_s=1.6), tier="A", layers=[],
                     limits=LIMITS)
    assert (r.killed_by, r.error_type, r.cpu_s) == ("timeout", "TimeoutError", 1.6)
    assert "1.5 s of CPU time" in (r.error_message or "")
    assert RunResult.from_dict(r.to_dict()) == r


def test_cpu_and_inode_limits_are_validated() -> None:
    assert Limits().cpu_budget_s == 10.0 and Limits(timeout_s=3).cpu_budget_s == 3
    assert Limits(timeout_s=2, max_cpu_s=30).runner_limits()["cpu"] == 31  # RLIMIT_CPU stays a backstop
    for field, value in (("max_cpu_s", 0), ("max_cpu_s", float("inf")), ("max_cpu_s", "1"), ("max_inodes", 3)):
        with pytest.raises(BadInputError, match=field):
            Limits(**{field: value})  # type: ignore[arg-type]


def test_tier_b_layers_name_the_unix_socket_rule_and_the_disk_cap() -> None:
    rep = ProbeReport(tier="B", layers=[], available=["B"], is_root=True, seccomp=True, landlock_abi=6)
    assert {"no-unix-sockets", "disk-budget"} <= set(rep.layers_for("B"))
    rep.workdir_tmpfs = True
    assert "tmpfs-workdir" in rep.layers_for("B") and "disk-budget" not in rep.layers_for("B")
    assert "no-unix-sockets" not in rep.layers_for("A") and "no-unix-sockets" in rep.layers_for("A", allow_network=True)


@pytest.mark.skipif(not seccomp.available(), reason="libseccomp is not installed")
def test_the_unix_socket_rule_is_its_own_program() -> None:
    for net in (False, True):
        plain, closed = seccomp.bpf_program(allow_network=net), seccomp.bpf_program(allow_network=net, deny_unix=True)
        assert closed != plain and len(closed) > len(plain) and len(closed) % 8 == 0


def test_the_disk_guard_counts_hard_links_once_and_deleted_open_files(tmp_path: Path) -> None:
    work, tmp = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    guard = DiskGuard([work, tmp], size_bytes=3 * 1024 * 1024, inodes=50, pids=lambda: [os.getpid()])
    (work / "a").write_bytes(os.urandom(2 * 1024 * 1024))
    for i in range(20):
        os.link(work / "a", work / f"link{i}")
    assert guard.scan() is None  # 2 MB once, 21 names
    with open(tmp / "hidden", "wb") as held:
        os.unlink(tmp / "hidden")
        held.write(os.urandom(5 * 1024 * 1024))  # 2 + 5 MB: past the 2 x 3 MB of both dirs together
        held.flush()
        os.fsync(held.fileno())
        assert "deleted files" in (guard.scan() or "")
    for i in range(60):
        (tmp / f"e{i}").touch()
    assert "50 files" in (guard.scan() or "")
    for i in range(60):
        (tmp / f"e{i}").unlink()
    deep = tmp
    for _ in range(40):
        deep = deep / "d"
        deep.mkdir()
    (work / "a").unlink()
    os.symlink("/usr", work / "usr")  # a symlink is not followed: /usr is not the sandbox's
    assert guard.scan() is None
    guard.inodes = 10_000
    for _ in range(30):
        deep = deep / "d"
        deep.mkdir()
    assert "deeper than" in (guard.scan() or "")
