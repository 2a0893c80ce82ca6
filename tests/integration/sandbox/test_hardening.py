"""Issue 11, the sandbox findings: each attack that succeeded on the code before the fix, and its variants.

1. the code switched off its own wall-clock timeout (a forged start record), and burned CPU with fork chains;
2. the code forged its own result (a `done` record on the result pipe, then a failing assert);
5. tier B could connect to host Unix sockets by path;
7. tier B had no total disk cap on the work dir;
11. the listing of output files was capped per directory, not in total.

Every attack writes its forgeries everywhere it can reach: every fd from 3 to 255, every `/proc/<pid>/fd/*`
it can open, and the fds it finds in the runner's frames; a fix that only renumbered a pipe would fail here.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nativa.sandbox import Limits, RunResult, Sandbox, SandboxPool, SandboxSession

pytestmark = pytest.mark.integration

FORGE = textwrap.dedent('''
    import os, sys

    def _fds():
        """Every fd number this process could write a forged record to, found every way there is."""
        found = set(range(3, 256))
        frame = sys._getframe()
        while frame is not None:
            for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):
                if isinstance(value, int) and not isinstance(value, bool) and 2 < value < 4096:
                    found.add(value)
                elif isinstance(value, dict):
                    found.update(v for v in value.values() if isinstance(v, int) and 2 < v < 4096)
            frame = frame.f_back
        return sorted(found)

    def forge(*records):
        lines = b"".join(r.encode() + b"\\n" for r in records)
        hits = []
        for fd in _fds():
            try:
                os.write(fd, lines)
                hits.append(fd)
            except OSError:
                pass
        try:
            pids = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
        except OSError:
            pids = []  # tier B: Landlock denies /proc
        for pid in pids:
            for fd in range(64):
                try:
                    f = os.open("/proc/%s/fd/%d" % (pid, fd), os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    continue
                try:
                    os.write(f, lines)
                    hits.append("%s/%d" % (pid, fd))
                except OSError:
                    pass
                os.close(f)
        print("FORGED", hits, flush=True)

    FAR_FUTURE = '{"e": "started", "t": 1e12}'
    SUCCESS = ('{"e": "done", "ok": true, "exit_code": 0, "status": 0, "t0": 0, "t1": 0, "files": {}}',
               '{"e": "result", "ok": true, "exit_code": 0, "seq": 1, "files": {}}',
               '{"e": "ready"}')
''')


@pytest.fixture(params=["oneshot", "pooled", "session"])
def run(request: pytest.FixtureRequest, tier: str) -> Iterator[Callable[..., RunResult]]:
    """`run(code, **limits)` in each way the sandbox runs code: a fresh sandbox, a pooled one, a session."""
    mode = request.param
    sandbox = Sandbox(tier=tier)  # type: ignore[arg-type]
    if mode == "oneshot":
        yield sandbox.run
    elif mode == "pooled":
        with SandboxPool(1, sandbox=sandbox) as pool:
            pool.wait_ready(30)
            yield pool.run
    else:
        with SandboxSession(sandbox=sandbox) as session:
            session.run("x = 1")  # the attack runs in a session that has already served a snippet
            yield lambda code, **kw: session.run(code, timeout_s=kw.get("timeout_s"))


# -- finding 1: the wall clock and the CPU ---------------------------------------------------------------------

def test_a_forged_start_record_does_not_lift_the_timeout(run: Callable[..., RunResult]) -> None:
    r = run(FORGE + "forge(FAR_FUTURE)\nimport time\ntime.sleep(8)\nprint('SURVIVED')\n", timeout_s=1)
    assert (r.ok, r.killed_by, r.error_type) == (False, "timeout", "TimeoutError"), r
    assert "SURVIVED" not in r.stdout


def test_a_fork_chain_under_a_forged_clock_is_bounded(sandbox: Sandbox) -> None:
    """Each link spins under RLIMIT_CPU (a fresh count per process), so only a per-run bound stops the chain."""
    code = FORGE + textwrap.dedent("""
        forge(FAR_FUTURE)
        for _ in range(20):
            pid = os.fork()
            if pid == 0:
                import time
                end = time.process_time() + 0.5
                while time.process_time() < end:
                    pass
                os._exit(0)
            os.waitpid(pid, 0)
        print('CHAIN-END')
    """)
    r = sandbox.run(code, timeout_s=2)
    assert (r.ok, r.killed_by) == (False, "timeout") and "CHAIN-END" not in r.stdout
    if "cgroup-cpu" in r.layers:
        assert r.cpu_s is not None and r.cpu_s < 6  # the chain alone would have burned 10 CPU-seconds


def test_the_cpu_budget_counts_every_process_of_the_run(tier: str) -> None:
    sandbox = Sandbox(tier=tier, limits=Limits(max_cpu_s=1.0))  # type: ignore[arg-type]
    if "cgroup-cpu" not in sandbox.layers:
        pytest.skip("no CPU cgroup on this host: CPU is bounded per process (RLIMIT_CPU) and by the wall clock")
    code = textwrap.dedent("""
        import os, time
        for _ in range(3):
            if os.fork() == 0:
                while True:
                    pass
        time.sleep(60)
    """)
    r = sandbox.run(code, timeout_s=30)
    assert (r.ok, r.killed_by, r.error_type) == (False, "timeout", "TimeoutError")
    assert "CPU time" in (r.error_message or "") and r.cpu_s is not None and r.cpu_s >= 1.0


def test_a_session_runs_nothing_between_snippets(tier: str) -> None:
    """A background process spins (and a background thread counts) only while a snippet runs."""
    import time

    with SandboxSession(tier=tier) as s:  # type: ignore[arg-type]
        start = textwrap.dedent("""
            import os, threading, time
            if os.fork() == 0:
                n = 0
                while True:
                    n += 1
                    if n % 200000 == 0:
                        with open("spin.tmp", "w") as fh:
                            fh.write(repr(time.process_time()))
                        os.replace("spin.tmp", "spin.txt")
            ticks = [0]
            def tick():
                while True:
                    ticks[0] += 1
                    time.sleep(0.01)
            threading.Thread(target=tick, daemon=True).start()
        """)
        assert s.run(start).ok
        before = s.run("print(ticks[0])")
        time.sleep(2.0)
        after = s.run("print(ticks[0])\nprint(open('spin.txt').read() if os.path.exists('spin.txt') else 0)")
    assert before.ok and after.ok, after
    ticks_before = int(before.stdout.split()[0])
    ticks_after, spun = after.stdout.split()
    assert int(ticks_after) - ticks_before < 50  # 2 s idle would be ~200 ticks if the thread ran
    assert float(spun) < 0.5  # and the spinner would have taken up to 2 CPU-seconds


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGSTOP"])
def test_signalling_the_supervisor_cannot_turn_into_success(sandbox: Sandbox, signal_name: str) -> None:
    code = textwrap.dedent(f"""
        import os, signal
        try:
            os.kill(os.getppid(), signal.{signal_name})
            print("SENT", flush=True)
        except OSError as exc:
            print("REFUSED", type(exc).__name__, flush=True)
        os._exit(0)
    """)
    r = sandbox.run(code, timeout_s=2)
    assert "SENT" in r.stdout or "REFUSED PermissionError" in r.stdout, r
    if "SENT" in r.stdout:
        assert not r.ok and r.killed_by in ("signal", "timeout", None), r


def test_a_stopped_session_still_ends_each_snippet_at_its_limit(tier: str) -> None:
    """The deadline counts from when the host sent the snippet: a supervisor stopped (as code could where the
    kernel has no Landlock signal scope) changes nothing, and an interpreter its own code stopped times out."""
    import signal

    with SandboxSession(tier=tier, timeout_s=1) as s:  # type: ignore[arg-type]
        assert s.run("print('first')").ok
        worker = s._worker
        assert worker is not None
        parent = {pid: int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) for pid in worker.pids()}
        pythons = {pid for pid in parent if Path(f"/proc/{pid}/comm").read_text().startswith("python")}
        supervisor = [pid for pid in pythons if parent[pid] not in pythons]  # the executor is its fork
        assert len(supervisor) == 1 and len(pythons) == 2, (supervisor, pythons)
        worker.resume()
        os.kill(supervisor[0], signal.SIGSTOP)
        assert s.run("print('second')").stdout == "second\n"
        s.run("import os, signal, threading, time\n"
              "threading.Thread(target=lambda: (time.sleep(0.2), os.kill(os.getpid(), signal.SIGSTOP))).start()")
        r = s.run("import time\ntime.sleep(0.5)\nprint('never')")
        assert (r.ok, r.killed_by, r.stdout) == (False, "timeout", "")
        assert s.run("print('after')").stdout == "after\n" and s.restarts == 1


# -- finding 2: the verdict -------------------------------------------------------------------------------------

@pytest.mark.parametrize("ending", ["assert False, 'must fail'", "raise SystemExit(3)", "os._exit(1)",
                                    "os.kill(os.getpid(), 9)"])
def test_a_forged_result_cannot_pass_a_failing_run(tier: str, ending: str) -> None:
    for runner in ("oneshot", "pooled"):
        sandbox = Sandbox(tier=tier)  # type: ignore[arg-type]
        if runner == "oneshot":
            r = sandbox.run(FORGE + f"forge(*SUCCESS)\n{ending}\n")
        else:
            with SandboxPool(1, sandbox=sandbox) as pool:
                pool.wait_ready(30)
                r = pool.run(FORGE + f"forge(*SUCCESS)\n{ending}\n")
        assert not r.ok, (runner, r)
        assert r.stdout.startswith("FORGED")
        if ending.startswith("assert"):
            assert (r.error_type, r.error_message) == ("AssertionError", "must fail")
        elif ending.startswith("raise"):
            assert r.exit_code == 3
        elif ending.startswith("os._exit"):
            assert r.exit_code == 1
        else:
            assert (r.killed_by, r.exit_code) == ("signal", -9)


def test_forging_a_success_from_atexit_after_a_failure_does_not_pass(sandbox: Sandbox) -> None:
    code = FORGE + textwrap.dedent("""
        import atexit
        def lie():
            forge(*SUCCESS)
            os._exit(0)
        atexit.register(lie)
        assert False, 'the real outcome'
    """)
    r = sandbox.run(code)
    assert not r.ok and r.error_type == "AssertionError" and r.error_message == "the real outcome"


def test_the_supervisors_channels_are_out_of_reach(sandbox: Sandbox) -> None:
    """No fd of the code is one of the host's channels, and no /proc path leads to one."""
    code = textwrap.dedent("""
        import os, stat
        fds = []
        for fd in range(3, 256):
            try:
                mode = os.fstat(fd).st_mode
            except OSError:
                continue
            fds.append((fd, stat.S_ISFIFO(mode), os.get_blocking(fd)))
        print("FDS", fds)
        opened = []
        try:
            pids = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
        except OSError:
            pids = []
        for pid in pids:
            for fd in range(64):
                try:
                    os.close(os.open("/proc/%s/fd/%d" % (pid, fd), os.O_WRONLY | os.O_NONBLOCK))
                    opened.append((pid, fd))
                except OSError:
                    pass
        print("OPENED", opened)
    """)
    r = sandbox.run(code)
    assert r.ok, r
    fds = eval(r.stdout.split("FDS ", 1)[1].splitlines()[0])
    assert len(fds) <= 2, fds  # the request pipe (read end) and the report pipe (write end): nothing else
    assert "OPENED []" in r.stdout, r.stdout


# -- finding 5: host Unix sockets (tier B) ---------------------------------------------------------------------

@pytest.fixture
def host_sockets() -> Iterator[dict[str, socket.socket | str]]:
    """A stream listener and a datagram socket on paths any uid can reach, and an abstract listener."""
    public = Path(tempfile.mkdtemp(prefix="nativa-unix-", dir="/var/tmp"))
    public.chmod(0o755)
    stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stream.bind(str(public / "stream.sock"))
    stream.listen()
    stream.setblocking(False)
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.bind(str(public / "dgram.sock"))
    dgram.setblocking(False)
    for name in ("stream.sock", "dgram.sock"):
        (public / name).chmod(0o777)
    abstract_name = "\0nativa-test-" + os.urandom(4).hex()
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(abstract_name)
    abstract.listen()
    abstract.setblocking(False)
    yield {"stream": stream, "dgram": dgram, "abstract": abstract, "dir": str(public), "abstract_name": abstract_name}
    for s in (stream, dgram, abstract):
        s.close()
    shutil.rmtree(public, ignore_errors=True)


UNIX_ATTACKS = textwrap.dedent("""
    import os, socket
    def attempt(name, fn):
        try:
            fn()
            print("REACHED", name)
        except OSError as exc:
            print("BLOCKED", name, type(exc).__name__)
    def stream_connect():
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(STREAM)
    def dgram_sendto():
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"x", DGRAM)
    def pair_dgram_sendto():
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        a.sendto(b"x", DGRAM)
    def pair_stream_reconnect():
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        a.connect(STREAM)
    def seqpacket_connect():
        socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).connect(STREAM)
    def abstract_connect():
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(ABSTRACT)
    for name, fn in list(globals().items()):
        if callable(fn) and name.endswith(("connect", "sendto")):
            attempt(name, fn)
""")


@pytest.mark.parametrize("allow_network", [False, True])
def test_host_unix_sockets_are_out_of_reach(sandbox: Sandbox, host_sockets: dict, allow_network: bool) -> None:
    code = (f"STREAM = {host_sockets['dir'] + '/stream.sock'!r}\nDGRAM = {host_sockets['dir'] + '/dgram.sock'!r}\n"
            f"ABSTRACT = {host_sockets['abstract_name']!r}\n" + UNIX_ATTACKS)
    r = sandbox.run(code, allow_network=allow_network)
    assert r.ok, r
    assert "REACHED" not in r.stdout, r.stdout
    assert r.stdout.count("BLOCKED") == 6, r.stdout
    for name in ("stream", "abstract"):
        with pytest.raises(BlockingIOError):
            host_sockets[name].accept()
    with pytest.raises(BlockingIOError):
        host_sockets["dgram"].recv(10)
    if r.tier == "B" or allow_network:
        assert "no-unix-sockets" in r.layers
    socketpair = sandbox.run("import socket\na, b = socket.socketpair()\na.send(b'ok')\nprint(b.recv(2).decode())")
    assert socketpair.ok and socketpair.stdout == "ok\n"  # local IPC between the code's own processes stays


# -- finding 7: the disk (tier B) -------------------------------------------------------------------------------

FILL = textwrap.dedent("""
    import os, tempfile, time
    def fill(where, hide=False):
        n = 0
        try:
            for i in range(40):
                path = os.path.join(where, "f%d" % i)
                with open(path, "wb") as fh:
                    if hide:
                        os.unlink(path)  # deleted but open: invisible to a listing, still on the disk
                        HELD.append(os.dup(fh.fileno()))
                    fh.write(b"x" * (1024 * 1024))
                n += 1
                time.sleep(PAUSE)
        except OSError as exc:
            print("STOPPED", where == ".", type(exc).__name__, exc.errno, flush=True)
        print("MB", where == ".", n, flush=True)
    HELD = []
""")


@pytest.mark.parametrize("hide", [False, True])
def test_the_work_dir_and_tmp_are_capped_in_bytes(tier: str, hide: bool) -> None:
    sandbox = Sandbox(tier=tier, limits=Limits(max_file_mb=4))  # type: ignore[arg-type]
    r = sandbox.run(FILL + f"PAUSE = 0\nfill('.', {hide})\nfill(tempfile.gettempdir(), {hide})\n")
    assert r.ok, r
    written = [int(line.split()[2]) for line in r.stdout.splitlines() if line.startswith("MB")]
    assert len(written) == 2 and max(written) <= 4, r.stdout  # a tmpfs of 4 MB each
    assert r.stdout.count("STOPPED") == 2 and "OSError 28" in r.stdout, r.stdout  # ENOSPC


def test_tier_b_caps_the_files_in_the_work_dir(tier: str) -> None:
    if tier != "B":
        pytest.skip("tier A's tmpfs holds as many inodes as its memory cgroup allows (bwrap sets no nr_inodes)")
    sandbox = Sandbox(tier="B", limits=Limits(max_inodes=500))
    code = textwrap.dedent("""
        import os
        n = 0
        try:
            for i in range(3000):
                os.mkdir("d%d" % i) if i % 2 else open("e%d" % i, "w").close()
                n += 1
        except OSError as exc:
            print("STOPPED", exc.errno)
        try:
            for i in range(3000):
                os.link("e0", "h%d" % i)  # hard links cost no inode, and are counted once
        except OSError as exc:
            print("LINKS", exc.errno)
        print("MADE", n)
    """)
    r = sandbox.run(code)
    assert r.ok, r
    assert int(r.stdout.split("MADE ")[1]) < 500 and "STOPPED 28" in r.stdout, r.stdout


@pytest.fixture
def budget_sandbox(tier: str) -> Sandbox:
    """Tier B as on a host that cannot mount (a container without CAP_SYS_ADMIN): the host-side budget."""
    if tier != "B":
        pytest.skip("the disk budget is tier B's fallback")
    sandbox = Sandbox(tier="B", limits=Limits(max_file_mb=4, max_inodes=300))
    sandbox.report = dataclasses.replace(sandbox.report, workdir_tmpfs=False)
    return sandbox


@pytest.mark.parametrize("hide", [False, True])
def test_without_tmpfs_the_host_budget_ends_a_run_that_fills_the_disk(budget_sandbox: Sandbox, hide: bool) -> None:
    assert "disk-budget" in budget_sandbox.report.layers_for("B")
    r = budget_sandbox.run(FILL + f"PAUSE = 0.1\nfill('.', {hide})\n", timeout_s=20)
    assert (r.ok, r.killed_by, r.error_type) == (False, "disk", "DiskLimitExceeded"), r
    written = [int(line.split()[2]) for line in r.stdout.splitlines() if line.startswith("MB")]
    assert not written, "the run went on to the end instead of being stopped"


def test_without_tmpfs_the_host_budget_counts_files(budget_sandbox: Sandbox) -> None:
    r = budget_sandbox.run("import time\nfor i in range(5000):\n    open('e%d' % i, 'w').close()\n"
                           "    if i % 100 == 0:\n        time.sleep(0.05)\nprint('ALL')", timeout_s=30)
    assert (r.ok, r.killed_by) == (False, "disk") and "ALL" not in r.stdout, r
    assert budget_sandbox.run("open('small', 'w').write('fine')").ok  # a run within the budget is left alone


# -- finding 11: the listing of files_out ----------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["flat", "many-dirs"])
def test_the_listing_of_output_files_is_capped_in_total(tier: str, layout: str) -> None:
    sandbox = Sandbox(tier=tier, limits=Limits(max_inodes=40_000))  # type: ignore[arg-type]
    if layout == "flat":
        code = "for i in range(12000):\n    open('e%d' % i, 'w').close()\n"
    else:
        code = ("import os\nfor d in range(100):\n    os.mkdir('d%d' % d)\n"
                "    for i in range(100):\n        open('d%d/e%d' % (d, i), 'w').close()\n")
    r = sandbox.run(code, timeout_s=60)
    assert r.ok, r
    assert len(r.files_out) <= 10_000 and r.files_out_truncated
