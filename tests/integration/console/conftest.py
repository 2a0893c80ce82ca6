"""The console in a real browser: Debian's headless Chromium driven by Selenium through Debian's chromedriver
(nothing is downloaded at test time), against a real server on loopback with the real sandbox, the real
embedder and traces written to the JSONL store the console reads."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nativa import tracing
from nativa.config import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Screenshots for docs/console.md: `NATIVA_SCREENSHOTS=docs/images pytest -m integration tests/integration/console`
# (read at import: the suite's autouse fixture clears NATIVA_* variables for each test)
SHOTS = os.environ.get("NATIVA_SCREENSHOTS")


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; scripts/setup.sh installs it (NATIVA_SETUP_TESTS=1)")
    pytest.skip(reason)


def require_browser(chromium: Path = CHROMIUM, chromedriver: Path = CHROMEDRIVER) -> None:
    """Skip without Debian's browser or Selenium, except under CI=true, where their absence fails the run."""
    if not chromium.exists() or not chromedriver.exists():
        _missing("Debian's chromium and chromium-driver are not installed")
    try:
        import selenium  # noqa: F401
    except ImportError:
        _missing("selenium is not installed (the dev extra)")


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    chosen = Settings(home=tmp_path / "home")
    tracing.shutdown()
    tracing.setup(chosen)  # JSONL under the test's home: the console's trace pages read it back
    yield chosen
    tracing.shutdown()


@pytest.fixture
def browser() -> Iterator[object]:
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="nativa-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-default-apps", "--window-size=1280,900", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: docs/images when asked for, else the test's own folder."""
    folder = Path(SHOTS) if SHOTS else tmp_path / "shots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
