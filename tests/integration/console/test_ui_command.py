"""`nativa ui` as a user runs it: a real process serving the console on 127.0.0.1, stopped with Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_nativa_ui_serves_the_console_on_loopback(tmp_path: Path) -> None:
    env = {**os.environ, "NATIVA_HOME": str(tmp_path / "home"), "NATIVA_TRACE_EXPORTERS": "none"}
    proc = subprocess.Popen([sys.executable, "-m", "nativa", "ui", "--no-open", "--port", "0"], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/ui", line)
        assert found, line
        url = found.group(0)
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(url + "/runs", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "the console did not come up"
                time.sleep(0.2)
        assert page.status_code == 200 and "Runs" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) in (0, 130, -signal.SIGINT)
