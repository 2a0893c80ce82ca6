"""Files in and out: the caller's files appear in the work dir; what the code writes comes back, capped."""

from __future__ import annotations

import pytest

from nativa.errors import BadInputError
from nativa.sandbox import Limits, Sandbox

pytestmark = pytest.mark.integration


def test_files_in_are_readable_and_only_written_files_come_back(sandbox: Sandbox) -> None:
    code = ("print(open('data.txt').read())\nprint(open('sub/dir/cfg.json').read())\n"
            "open('out.csv', 'w').write('a,b\\n1,2\\n')\nopen('sub/dir/cfg.json', 'a').write('!')\n"
            "import os\nos.makedirs('results', exist_ok=True)\nopen('results/r.bin', 'wb').write(bytes(range(256)))\n")
    r = sandbox.run(code, files={"data.txt": b"hello", "sub/dir/cfg.json": "{}", "unchanged.txt": b"same"})
    assert r.ok, r.stderr
    assert r.stdout == "hello\n{}\n"
    assert r.files_out == {"out.csv": b"a,b\n1,2\n", "sub/dir/cfg.json": b"{}!", "results/r.bin": bytes(range(256))}
    assert not r.files_out_truncated


def test_files_out_are_capped_in_total(tier: str) -> None:
    sandbox = Sandbox(tier=tier, limits=Limits(max_files_out_bytes=1000))  # type: ignore[arg-type]
    r = sandbox.run("for n in ('a', 'b', 'c'):\n    open(n, 'w').write(n * 400)\n")
    assert r.ok and r.files_out_truncated
    assert len(r.files_out) == 2 and sum(map(len, r.files_out.values())) == 800


def test_symlinks_are_not_followed_out_of_the_work_dir(sandbox: Sandbox) -> None:
    r = sandbox.run("import os\nos.symlink('/etc/passwd', 'passwd')\nos.symlink('/etc', 'etc')\n")
    assert r.ok and r.files_out == {}


def test_single_file_size_is_limited(tier: str) -> None:
    sandbox = Sandbox(tier=tier, limits=Limits(max_file_mb=1))  # type: ignore[arg-type]
    r = sandbox.run("open('big', 'wb').write(b'x' * 2 * 1024 * 1024)\n")
    assert r.error_type == "OSError" and "File too large" in (r.error_message or "")


@pytest.mark.parametrize("name", ["/etc/passwd", "../up.txt", "a/../../b", "", "a//b", "nul\x00.txt"])
def test_file_names_must_stay_inside_the_work_dir(name: str) -> None:
    sandbox = Sandbox()
    with pytest.raises(BadInputError, match="relative path"):
        sandbox.run("print(1)", files={name: b"x"})
