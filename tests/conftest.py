"""Shared fixtures: an isolated NATIVA_HOME per test, and the real embedded model for integration tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.promised import TAG as PROMISED

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


INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration is an integration test, marked or not, so `-m "not integration"`
    (make unit) can never run one and `-m integration` can never skip one."""
    for item in items:
        if Path(str(item.path)).is_relative_to(INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true a skip of something the README promises (tagged by support.promised) is a failure: CI
    that silently lacks the sandbox, PostgreSQL or the model would otherwise pass without testing them."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and os.environ.get("CI") == "true" and PROMISED in str(report.longrepr):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"CI=true: {reason}: a capability the README promises must be tested here, not skipped"


@pytest.fixture(autouse=True)
def _unit_tests_start_no_real_sandbox_or_server(request: pytest.FixtureRequest,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that starts the real sandbox or a real server on loopback is an integration test: an unmarked
    one fails here, naming the fix, instead of running under `make unit` and being skipped by `make
    integration`."""
    if request.node.get_closest_marker("integration") is not None:
        return
    from support.openai_server import StandInServer

    from nativa.sandbox.sandbox import Sandbox
    from nativa.serve.runner import ServerThread

    def refusing(what: str) -> Callable[..., None]:
        def refuse(*args: object, **kwargs: object) -> None:
            pytest.fail(f"{request.node.nodeid} starts {what}: mark it @pytest.mark.integration "
                        "(unit tests use the fakes)", pytrace=False)
        return refuse

    monkeypatch.setattr(Sandbox, "__init__", refusing("the real sandbox"))
    monkeypatch.setattr(ServerThread, "start", refusing("a real server on loopback"))
    monkeypatch.setattr(StandInServer, "__enter__", refusing("a real server on loopback"))
