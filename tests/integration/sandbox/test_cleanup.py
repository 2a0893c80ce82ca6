"""Cleanup even when the parent is killed: no process survives, and the next start sweeps cgroups and dirs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import nativa
from nativa.sandbox import Sandbox
from nativa.sandbox._host import host_context
from nativa.sandbox._runtime import sweep

pytestmark = pytest.mark.integration

HELPER = """
import sys
from nativa.sandbox import SandboxSession
s = SandboxSession(tier=sys.argv[1])
print(s.run("import os\\nprint('UID', os.getuid())").stdout, flush=True)
code = '''
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(120)
    os._exit(0)
print('daemon started', flush=True)
time.sleep(120)
'''
s.run(code, timeout_s=120)
"""


def _stale(pid: int) -> list[Path]:
    ctx = host_context()
    parents = [p for p in (ctx.cgroups.memory, ctx.cgroups.pids) if p] + [ctx.root / "work"]
    return [d for parent in parents for d in parent.glob(f"sb-{pid}-*")]


def test_killing_the_host_leaves_nothing_behind(tier: str, assert_no_leftovers: Callable[..., None]) -> None:
    src = str(Path(nativa.__file__).resolve().parents[1])
    helper = subprocess.Popen([sys.executable, "-c", HELPER, tier], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": src})
    try:
        line = helper.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("UID "), line
        uid = int(line.split()[1])
        time.sleep(1.0)  # the second snippet is running, its daemon started
        os.kill(helper.pid, signal.SIGKILL)
        helper.wait()
    finally:
        if helper.poll() is None:
            helper.kill()
    if tier == "A":
        # --die-with-parent kills bwrap's pid namespace, and with it the double-forked daemon.
        assert_no_leftovers(uid, wait_s=5)
    assert _stale(helper.pid), "expected the killed host's cgroups/work dir to be left for the sweep"
    stats = sweep(host_context().root, host_context().cgroups)
    assert not _stale(helper.pid), "the sweep did not remove the killed host's cgroups and work dirs"
    assert stats["cgroups"] + stats["work_dirs"] >= 1
    assert_no_leftovers(uid, wait_s=5)  # tier B: the daemon escaped the death signal; the sweep killed it


def test_a_finished_run_leaves_no_cgroup_or_work_dir(tier: str) -> None:
    Sandbox(tier=tier).run("print(1)")  # type: ignore[arg-type]
    assert _stale(os.getpid()) == []


def test_every_sandbox_process_is_in_its_cgroups(tier: str, sandbox_uid: Callable[[str], int]) -> None:
    """Both ways of joining (the host moves the process tree; or, without /proc children lists, the runner
    moves itself through fds it closes before the code runs) leave the code's processes inside."""
    import dataclasses

    from nativa.sandbox import SandboxSession
    from nativa.sandbox._runtime import uid_processes

    base = Sandbox(tier=tier)  # type: ignore[arg-type]
    if not base.ctx.cgroups.memory and not base.ctx.cgroups.pids:
        pytest.skip("no writable cgroups on this host")
    for host_attach in (True, False):
        base.ctx = dataclasses.replace(base.ctx, proc_children=host_attach)
        with SandboxSession(sandbox=base) as s:
            r = s.run("import os, subprocess\nprint('UID', os.getuid())\nchild = subprocess.Popen(['sleep', '30'])")
            uid = sandbox_uid(r.stdout)
            worker = s._worker
            assert worker is not None and worker.cgroup is not None
            inside = set(worker.cgroup.pids())
            code_pids = set(uid_processes({uid}))
            # the supervisor, the executor running the code, and its `sleep`
            assert len(code_pids) == 3 and code_pids <= inside, (host_attach, code_pids, inside)
            for pid in code_pids:  # no root-opened cgroup.procs left open in the sandbox
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    assert "cgroup" not in target, target
