"""Pre-started sandboxes and several sandboxes at once: each run isolated, each cleaned up completely."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import pytest

from nativa.errors import SandboxError
from nativa.sandbox import RunResult, Sandbox, SandboxPool, SandboxSession

pytestmark = pytest.mark.integration


def test_pooled_runs_use_prestarted_sandboxes_and_share_nothing(tier: str) -> None:
    with SandboxPool(2, sandbox=Sandbox(tier=tier)) as pool:  # type: ignore[arg-type]
        assert pool.wait_ready(30)
        time.sleep(0.3)  # the pre-start threads have ended: their sandboxes must outlive them
        first = pool.run("secret = 42\nopen('left.txt', 'w').write('x')\nprint('first')")
        second = pool.run("import os\nprint('secret' in globals(), os.path.exists('left.txt'))")
        assert (pool.warm_runs, pool.cold_runs) == (2, 0)
    assert first.ok and first.files_out == {"left.txt": b"x"}
    assert second.ok and second.stdout == "False False\n"
    assert first.duration_s < 1 and second.duration_s < 1


def test_a_session_outlives_the_thread_that_started_it(tier: str) -> None:
    holder: list[SandboxSession] = []
    t = threading.Thread(target=lambda: holder.append(SandboxSession(tier=tier)))  # type: ignore[arg-type]
    t.start()
    t.join()
    session = holder[0]
    try:
        time.sleep(0.3)
        assert session.alive
        assert session.run("print('still here')").stdout == "still here\n" and session.restarts == 0
    finally:
        session.close()


def test_pool_applies_per_run_limits(tier: str) -> None:
    with SandboxPool(1, sandbox=Sandbox(tier=tier)) as pool:  # type: ignore[arg-type]
        pool.wait_ready(30)
        mem = pool.run("b = bytearray(200 * 1024 ** 2)", memory_mb=128)
        pool.wait_ready(30)
        slow = pool.run("import time\ntime.sleep(10)", timeout_s=0.5)
    assert (mem.error_type, mem.killed_by) == ("MemoryError", "memory")
    assert slow.killed_by == "timeout" and slow.duration_s < 3


def test_pool_close_cleans_up_and_refuses(tier: str, sandbox_uid: Callable[[str], int],
                                          assert_no_leftovers: Callable[..., None]) -> None:
    pool = SandboxPool(2, sandbox=Sandbox(tier=tier))  # type: ignore[arg-type]
    pool.wait_ready(30)
    r = pool.run("import os, subprocess\nprint('UID', os.getuid())\nsubprocess.Popen(['sleep', '60'])")
    pool.close()
    assert_no_leftovers(sandbox_uid(r.stdout))
    with pytest.raises(SandboxError, match="closed"):
        pool.run("print(1)")


def test_sandbox_with_a_pool_uses_it() -> None:
    sb = Sandbox(pool_size=1)
    try:
        sb._pool.wait_ready(30)  # type: ignore[union-attr]
        r = sb.run("print('pooled')")
        assert r.ok and r.stdout == "pooled\n" and sb._pool.warm_runs == 1  # type: ignore[union-attr]
    finally:
        sb.close()


def test_concurrent_sandboxes_have_their_own_uids_and_process_limits(tier: str,
                                                                     assert_no_leftovers: Callable[..., None]) -> None:
    # 4 sandboxes x 40 children: only fits if RLIMIT_NPROC (64) counts per sandbox, i.e. the uids differ.
    sandbox = Sandbox(tier=tier)  # type: ignore[arg-type]
    code = ("import os, subprocess, time\nprocs = [subprocess.Popen(['sleep', '30']) for _ in range(40)]\n"
            "time.sleep(0.5)\nprint('UID', os.getuid(), 'CHILDREN', len(procs))\n")
    results: list[RunResult] = []
    lock = threading.Lock()

    def one() -> None:
        r = sandbox.run(code, timeout_s=20)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.ok for r in results), [r.stderr[-300:] for r in results]
    found = [re.search(r"UID (\d+) CHILDREN (\d+)", r.stdout) for r in results]
    assert all(m and m.group(2) == "40" for m in found)
    uids = {int(m.group(1)) for m in found if m}
    assert len(uids) == 4
    for uid in uids:
        assert_no_leftovers(uid)
