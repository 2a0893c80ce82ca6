"""Sessions: state across snippets, the same limits per snippet, restart after a crash, complete close."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nativa.errors import SandboxError
from nativa.sandbox import SandboxSession

pytestmark = pytest.mark.integration


@pytest.fixture
def session(tier: str) -> SandboxSession:
    s = SandboxSession(tier=tier, timeout_s=5, memory_mb=256)  # type: ignore[arg-type]
    yield s
    s.close()


def test_globals_imports_and_functions_persist(session: SandboxSession) -> None:
    assert session.run("import math\nx = 20\ndef f(n):\n    return n + 1\n").ok
    r = session.run("print(f(x) + int(math.sqrt(4)))")
    assert r.ok and r.stdout == "23\n" and session.restarts == 0


def test_each_snippet_gets_only_its_own_output(session: SandboxSession) -> None:
    a = session.run("print('first')")
    b = session.run("import sys\nprint('second')\nprint('warn', file=sys.stderr)")
    assert (a.stdout, a.stderr) == ("first\n", "")
    assert (b.stdout, b.stderr) == ("second\n", "warn\n")


def test_an_error_keeps_the_state(session: SandboxSession) -> None:
    session.run("total = 10")
    r = session.run("total += 1\nundefined_name")
    assert r.error_type == "NameError" and 'File "cell2.py", line 2' in (r.traceback or "")
    assert session.run("print(total)").stdout == "11\n"  # the first line of the failed snippet did run


def test_a_memory_error_does_not_end_the_session(session: SandboxSession) -> None:
    session.run("keep = 'still here'")
    r = session.run("big = bytearray(600 * 1024 ** 2)")
    assert (r.error_type, r.killed_by) == ("MemoryError", "memory")
    assert session.run("print(keep)").stdout == "still here\n" and session.restarts == 0


def test_timeout_kills_the_snippet_and_the_next_starts_fresh(session: SandboxSession,
                                                             sandbox_uid: Callable[[str], int],
                                                             assert_no_leftovers: Callable[..., None]) -> None:
    first = session.run("import os\nprint('UID', os.getuid())\nstate = 1")
    r = session.run("while True:\n    pass", timeout_s=0.5)
    assert r.killed_by == "timeout" and 0.5 <= r.duration_s < 3
    assert_no_leftovers(sandbox_uid(first.stdout))
    after = session.run("print(state)")
    assert after.error_type == "NameError" and session.restarts == 1  # state was lost, and we say so
    assert session.run("print('alive')").stdout == "alive\n"


def test_crash_restarts(session: SandboxSession) -> None:
    r = session.run("import os\nos._exit(7)")
    assert (r.ok, r.exit_code) == (False, 7)
    assert session.run("print('back')").stdout == "back\n" and session.restarts == 1


def test_output_cap_per_snippet(tier: str) -> None:
    with SandboxSession(tier=tier, max_output_bytes=100) as s:  # type: ignore[arg-type]
        assert s.run("print('x' * 90)").ok  # each snippet has the whole cap
        assert s.run("print('y' * 90)").ok
        r = s.run("print('z' * 500)")
        assert r.killed_by == "output" and r.stdout == "z" * 100


def test_files_persist_and_files_out_are_per_snippet(session: SandboxSession) -> None:
    r1 = session.run("open('notes.txt', 'w').write('one')", files={"input.txt": b"in"})
    assert r1.files_out == {"notes.txt": b"one"}
    r2 = session.run("print(open('notes.txt').read(), open('input.txt').read())")
    assert r2.stdout == "one in\n" and r2.files_out == {}


def test_stdin_per_snippet(session: SandboxSession) -> None:
    assert session.run("print(input())", stdin="a\n").stdout == "a\n"
    assert session.run("print(input())", stdin="b\n").stdout == "b\n"


def test_close_leaves_nothing_and_refuses_more(tier: str, sandbox_uid: Callable[[str], int],
                                               assert_no_leftovers: Callable[..., None]) -> None:
    s = SandboxSession(tier=tier)  # type: ignore[arg-type]
    uid = sandbox_uid(s.run("import os, subprocess\nprint('UID', os.getuid())\n"
                            "p = subprocess.Popen(['sleep', '60'])").stdout)
    assert s.alive
    s.close()
    assert not s.alive
    assert_no_leftovers(uid)
    with pytest.raises(SandboxError, match="closed"):
        s.run("print(1)")


def test_large_snippet_output_is_not_split_across_snippets(session: SandboxSession) -> None:
    big = session.run("print('q' * 300_000)")
    small = session.run("print('after')")
    assert big.stdout == "q" * 300_000 + "\n" and small.stdout == "after\n"


def test_an_input_file_that_cannot_be_written_is_a_failed_result(session: SandboxSession) -> None:
    assert session.run("import os\nos.mkdir('taken')").ok
    r = session.run("print('never runs')", files={"taken": b"x"})
    assert (r.ok, r.error_type, r.stdout) == (False, "IsADirectoryError", "")
    assert "could not put input file 'taken'" in (r.error_message or "")
    assert session.run("print('fine')").stdout == "fine\n" and session.restarts == 0
