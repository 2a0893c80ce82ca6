"""The seccomp program, and CLI argument errors (exit 2, one line, before any sandbox starts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nativa.sandbox import seccomp

pytestmark = pytest.mark.skipif(not seccomp.available(), reason="libseccomp is not installed")


def test_programs_are_whole_bpf_and_cached() -> None:
    closed = seccomp.bpf_program(allow_network=False)
    open_ = seccomp.bpf_program(allow_network=True)
    assert len(closed) % 8 == 0 and len(open_) % 8 == 0
    assert closed is seccomp.bpf_program(allow_network=False)
    assert closed != open_ and len(closed) > len(open_)  # the socket rules exist only without the network


def test_the_deny_list_covers_the_escape_routes() -> None:
    must = {"ptrace", "mount", "umount2", "unshare", "setns", "bpf", "keyctl", "add_key", "request_key",
            "pivot_root", "kexec_load", "init_module", "finit_module", "io_uring_setup", "open_by_handle_at"}
    assert must <= set(seccomp.DENIED_SYSCALLS)


def test_program_fd_reads_back_from_the_start() -> None:
    import os

    fd = seccomp.program_fd(b"12345678")
    try:
        assert os.read(fd, 100) == b"12345678"
    finally:
        os.close(fd)


def test_cli_bad_arguments_exit_2(invoke: Callable[[list[str]], int], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "ok.py"
    script.write_text("print(1)\n")
    assert invoke(["run", str(tmp_path / "missing.py")]) == 2
    assert invoke(["run", str(script), "--timeout", "0"]) == 2
    assert invoke(["run", str(script), "--timeout", "-3"]) == 2
    assert invoke(["run", str(script), "--memory-mb", "8"]) == 2
    assert invoke(["run", str(script), "--timeout", "soon"]) == 2
    binary = tmp_path / "bin.py"
    binary.write_bytes(b"\xff\xfe\x00")
    assert invoke(["run", str(binary)]) == 2
    assert "Traceback" not in capsys.readouterr().err
