"""Limits: output truncation, timeouts, memory kills, process exit semantics, stdin."""

from __future__ import annotations

import pytest

from nativa.sandbox import Sandbox

pytestmark = pytest.mark.integration


def test_stdout_is_cut_at_the_cap_and_the_run_killed(sandbox: Sandbox) -> None:
    r = sandbox.run("print('a' * 5000)\nprint('never')\n", max_output_bytes=1000)
    assert r.killed_by == "output" and not r.ok
    assert r.stdout == "a" * 1000 and r.stdout_truncated and not r.stderr_truncated


def test_stderr_has_its_own_cap(sandbox: Sandbox) -> None:
    r = sandbox.run("import sys\nprint('fine')\nsys.stderr.write('e' * 3000)\n", max_output_bytes=1000)
    assert r.killed_by == "output" and r.stderr_truncated and not r.stdout_truncated
    assert r.stderr == "e" * 1000 and r.stdout == "fine\n"


def test_output_exactly_at_the_cap_is_kept_whole(sandbox: Sandbox) -> None:
    r = sandbox.run("import sys\nsys.stdout.write('b' * 1000)\n", max_output_bytes=1000)
    assert r.ok and r.killed_by is None and not r.stdout_truncated and r.stdout == "b" * 1000


def test_sleeping_code_is_killed_at_the_timeout(sandbox: Sandbox) -> None:
    r = sandbox.run("import time\nprint('start', flush=True)\ntime.sleep(30)\n", timeout_s=0.5)
    assert r.killed_by == "timeout" and r.error_type == "TimeoutError" and r.exit_code == -9
    assert 0.5 <= r.duration_s < 3 and r.stdout == "start\n"  # what was flushed before the kill is kept


def test_code_that_finishes_in_time_is_not_killed(sandbox: Sandbox) -> None:
    r = sandbox.run("import time\ntime.sleep(0.2)\nprint('done')\n", timeout_s=1.5)
    assert r.ok and r.stdout == "done\n" and 0.2 <= r.duration_s < 1.5 and r.killed_by is None


def test_memory_error_from_the_address_space_limit(sandbox: Sandbox) -> None:
    r = sandbox.run("data = []\nfor _ in range(100):\n    data.append(bytearray(10 * 1024 * 1024))\n", memory_mb=128)
    assert (r.error_type, r.killed_by, r.ok) == ("MemoryError", "memory", False)
    assert "128 MB" in (r.error_message or "")
    assert 'File "main.py", line 3, in <module>' in (r.traceback or "")


def test_caught_memory_error_is_the_codes_business(sandbox: Sandbox) -> None:
    r = sandbox.run("try:\n    bytearray(2 * 1024 ** 3)\nexcept MemoryError:\n    print('recovered')\n", memory_mb=128)
    assert r.ok and r.killed_by is None and r.stdout == "recovered\n"


def test_children_past_the_cgroup_ceiling_are_an_oom_kill(sandbox: Sandbox) -> None:
    if "cgroup-memory" not in sandbox.layers:
        pytest.skip("no writable memory cgroup on this host")
    # Each child stays under RLIMIT_AS (per process); together they pass the sandbox's 256 MB cgroup.
    code = ("import os, time\nfor _ in range(4):\n    if os.fork() == 0:\n        b = bytearray(150 * 1024 ** 2)\n"
            "        for i in range(0, len(b), 4096):\n            b[i] = 1\n        time.sleep(30)\n"
            "        os._exit(0)\nos.wait()\n")
    r = sandbox.run(code, memory_mb=256, timeout_s=20)
    assert (r.killed_by, r.error_type, r.ok) == ("memory", "MemoryError", False)
    assert r.duration_s < 15  # ended by the OOM kill, not the timeout


def test_a_segfault_is_a_signal(sandbox: Sandbox) -> None:
    r = sandbox.run("import ctypes\nctypes.string_at(0)\n")
    assert (r.killed_by, r.exit_code, r.error_type) == ("signal", -11, "Killed")
    assert "SIGSEGV" in (r.error_message or "")


def test_os_exit_status_is_reported(sandbox: Sandbox) -> None:
    r = sandbox.run("import os\nos._exit(5)\n")
    assert (r.ok, r.exit_code, r.killed_by) == (False, 5, None)
    r = sandbox.run("import os\nos._exit(0)\n")
    assert (r.ok, r.exit_code) == (True, 0)


def test_threads_are_joined_and_atexit_runs_like_a_script(sandbox: Sandbox) -> None:
    code = ("import atexit, threading, time\natexit.register(lambda: print('atexit'))\n"
            "threading.Thread(target=lambda: (time.sleep(0.2), print('late thread'))).start()\nprint('main')\n")
    r = sandbox.run(code)
    assert r.ok and r.stdout == "main\nlate thread\natexit\n"


def test_stdin_is_fed_to_input(sandbox: Sandbox) -> None:
    r = sandbox.run("a = int(input())\nb = int(input())\nprint(a + b)\n", stdin="2\n40\n")
    assert r.ok and r.stdout == "42\n"


def test_no_network_unless_asked_and_then_sockets_exist(sandbox: Sandbox) -> None:
    code = "import socket\ns = socket.socket()\nprint('socket ok')\n"
    denied = sandbox.run(code)
    assert denied.error_type == "PermissionError"
    allowed = sandbox.run(code, allow_network=True)
    assert allowed.ok and allowed.stdout == "socket ok\n"
    assert "no-inet-sockets" not in allowed.layers and "no-inet-sockets" in denied.layers


def test_large_output_under_the_cap_arrives_whole(sandbox: Sandbox) -> None:
    r = sandbox.run("import sys\nfor i in range(50):\n    sys.stdout.write(str(i % 10) * 9999 + '\\n')\n")
    assert r.ok and not r.stdout_truncated and len(r.stdout) == 500_000
    assert r.stdout.splitlines()[-1] == "9" * 9999
