"""Shared fixtures: an isolated NATIVA_HOME per test, and the real embedded model for integration tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nativa.cli import _common
from nativa.config import Settings

# The real assembled model is shared by all tests (assembling it costs seconds and 500 MB).
REAL_HOME = Path(os.environ.get("NATIVA_HOME") or Path.home() / ".cache" / "nativa")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's environment or nativa.toml, or leaks settings into the next test."""
    for key in list(os.environ):
        if key.startswith("NATIVA_") and key not in ("NATIVA_SANDBOX_ALLOW_WEAK",):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NATIVA_CONFIG", str(tmp_path / "absent-nativa.toml"))
    monkeypatch.setenv("NATIVA_HOME", str(tmp_path / "home"))
    _common.reset_settings()
    yield
    _common.reset_settings()


@pytest.fixture
def real_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings that point at the machine's real model cache, for integration tests."""
    monkeypatch.setenv("NATIVA_HOME", str(REAL_HOME))
    _common.reset_settings()
    return Settings(home=REAL_HOME, n_ctx=2048)


@pytest.fixture
def invoke() -> Callable[[list[str]], int]:
    """Run `nativa sandbox ARGS` in-process, with the CLI's own exit codes (bad input 2, failure 1)."""
    from nativa.cli import run

    return lambda args: run(["sandbox", *args])
