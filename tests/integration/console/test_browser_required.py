"""The browser tests' guard: without Debian's Chromium they skip on a laptop, and fail under CI=true, where the
README promises them (a CI image without the browser must not pass the console's tests by skipping them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from integration.console.conftest import require_browser


def _outcome(chromium: Path, chromedriver: Path) -> BaseException | None:
    """What the guard raised (a skip must not escape: it would turn this very test into a skip)."""
    try:
        require_browser(chromium, chromedriver)
    except BaseException as exc:  # noqa: BLE001  (pytest's skip and fail are BaseExceptions)
        return exc
    return None


def test_a_missing_browser_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    raised = _outcome(tmp_path / "no-chromium", Path("/usr/bin/chromedriver"))
    assert isinstance(raised, pytest.fail.Exception), raised
    assert "chromium-driver are not installed; scripts/setup.sh installs it" in str(raised)


def test_a_missing_browser_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert isinstance(_outcome(Path("/usr/bin/chromium"), tmp_path / "no-chromedriver"), pytest.skip.Exception)
