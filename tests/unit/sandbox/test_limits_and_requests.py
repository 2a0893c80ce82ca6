"""Limits and requests are validated at the boundary: a bad value is a BadInputError naming the field."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from nativa.errors import BadInputError, SandboxError
from nativa.sandbox import Limits
from nativa.sandbox._runtime import runtime_dir
from nativa.sandbox.limits import check_files
from nativa.sandbox.sandbox import encode_request


def test_defaults_are_the_documented_ones() -> None:
    lim = Limits()
    assert (lim.timeout_s, lim.memory_mb, lim.max_output_bytes) == (10.0, 512, 1_000_000)
    assert lim.runner_limits() == {"as": 512 * 1024 * 1024, "fsize": 64 * 1024 * 1024, "nofile": 256,
                                   "nproc": 64, "cpu": 11}


@pytest.mark.parametrize(("field", "value"), [
    ("timeout_s", 0), ("timeout_s", -1), ("timeout_s", float("inf")), ("timeout_s", float("nan")),
    ("timeout_s", "10"), ("timeout_s", True), ("memory_mb", 10), ("memory_mb", 512.5),
    ("max_output_bytes", 0), ("max_processes", 0), ("max_open_files", 3), ("max_file_mb", 0),
])
def test_invalid_limits_name_the_field(field: str, value: object) -> None:
    with pytest.raises(BadInputError, match=field):
        Limits(**{field: value})  # type: ignore[arg-type]


def test_overrides_keep_unset_fields_and_validate() -> None:
    lim = Limits(memory_mb=256).with_overrides(timeout_s=2, memory_mb=None)
    assert (lim.timeout_s, lim.memory_mb) == (2, 256)
    with pytest.raises(BadInputError, match="timeout_s"):
        lim.with_overrides(timeout_s=0)


def test_files_are_checked_and_encoded() -> None:
    assert check_files({"a.txt": "hé", "d/b.bin": b"\x00\x01"}, Limits()) == {"a.txt": "hé".encode(),
                                                                               "d/b.bin": b"\x00\x01"}
    with pytest.raises(BadInputError, match="max_file_mb=1"):
        check_files({"big": b"x" * (1024 * 1024 + 1)}, Limits(max_file_mb=1))
    with pytest.raises(BadInputError, match="must be bytes or str"):
        check_files({"n": 3}, Limits())  # type: ignore[dict-item]
    with pytest.raises(BadInputError, match="dict"):
        check_files([("a", b"")], Limits())  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["/abs", "../x", "a/../b", "a//b", ".", "", "x\x00", "semi;colon", "a/./b"])
def test_bad_file_names(name: str) -> None:
    with pytest.raises(BadInputError, match="relative path"):
        check_files({name: b""}, Limits())


def test_request_carries_code_limits_stdin_and_files() -> None:
    req = encode_request("print(1)", files={"in.txt": b"data"}, stdin="line\n", limits=Limits(timeout_s=3),
                         filename="task.py")
    assert req["code"] == "print(1)" and req["filename"] == "task.py"
    assert base64.b64decode(req["stdin"]) == b"line\n"
    assert base64.b64decode(req["files"]["in.txt"]) == b"data"
    assert req["limits"]["cpu"] == 4 and req["max_files_out"] == 10_000_000


@pytest.mark.parametrize(("kw", "match"), [
    ({"code": b"print(1)"}, "code must be a str"), ({"stdin": 5}, "stdin must be"),
    ({"filename": "a/b.py"}, "filename"), ({"filename": ""}, "filename"),
])
def test_request_rejects_bad_input(kw: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"code": "x", "files": None, "stdin": None, "limits": Limits(), "filename": "m.py"}
    args.update(kw)
    code = args.pop("code")
    with pytest.raises(BadInputError, match=match):
        encode_request(code, **args)  # type: ignore[arg-type]


def test_runtime_dir_must_be_ours(tmp_path: Path) -> None:

    good = runtime_dir(tmp_path / "rt")
    assert (good / "uids").is_dir() and (good / "work").is_dir() and oct(good.stat().st_mode)[-3:] == "755"
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "link")
    with pytest.raises(SandboxError, match="not a directory owned by"):
        runtime_dir(tmp_path / "link")
