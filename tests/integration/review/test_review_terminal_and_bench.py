"""`nativa review ask` at a real terminal (a pty), approvals persisting across processes, and the bench's timing
beside the real sandbox."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[3]
NATIVA = str(Path(sys.executable).with_name("nativa"))


def _ask(args: list[str], typed: bytes | None, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NATIVA_HOME": str(home)}
    if typed is None:  # no terminal: stdin is /dev/null
        return subprocess.run([NATIVA, "review", "ask", *args], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, env=env, timeout=120, check=False)
    primary, secondary = pty.openpty()
    try:
        os.write(primary, typed)
        return subprocess.run([NATIVA, "review", "ask", *args], stdin=secondary, capture_output=True, text=True,
                              env=env, timeout=120, check=False)
    finally:
        os.close(primary)
        os.close(secondary)


def test_a_person_at_a_terminal_approves_for_the_session(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = tmp_path / "first.py"
    first.write_text("import json\nopen('/etc/report.csv', 'w').write(json.dumps([]))\n")
    second = tmp_path / "second.py"  # different code, the same action
    second.write_text("rows = []\nopen('/etc/report.csv', 'w').write(str(rows))\n")
    asked = _ask([str(first), "--session", "s1"], b"s\n", home)
    assert asked.returncode == 0, asked.stderr
    assert "> 2 |" in asked.stderr and "high file-write" in asked.stderr and "[s] approve for this session" in asked.stderr
    covered = _ask([str(second), "--session", "s1"], None, home)  # nobody to ask, and no need to
    assert covered.returncode == 0 and "covered" in covered.stderr, covered.stderr
    elsewhere = _ask([str(second), "--session", "s2"], None, home)  # another session: asked again, fails closed
    assert elsewhere.returncode == 1 and "no terminal to ask" in elsewhere.stderr
    rejected = _ask([str(first), "--session", "s3", "--json"], b"e\nwrite to the work dir\n", home)
    assert rejected.returncode == 1
    assert json.loads(rejected.stdout)["feedback"] == "the reviewer rejected this because: write to the work dir"
    log = subprocess.run([NATIVA, "review", "log", "--verify"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "NATIVA_HOME": str(home)}, check=False)
    assert log.returncode == 0 and "4 entries" in log.stdout


def test_bench_times_the_policy_beside_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    from nativa.bench.review import run_review_bench

    monkeypatch.chdir(ROOT)
    result = run_review_bench(runs=3)
    assert result.runs == 3 and result.tier in ("A", "B")
    assert result.policy_ms["p50"] > 0 and result.sandbox_ms["p50"] > 0 and result.pooled_ms["p50"] > 0
    assert 0 < result.cost_ratio["p50"] < 1  # reviewing a candidate costs less than running it
    assert result.decision_ms["p50"] >= result.policy_ms["p50"] * 0.5 and result.decision_ratio["p50"] > 0
    assert result.durable_ms["n"] == 3 and result.durable_ratio["p50"] > 0  # the all-durable baseline beside it
