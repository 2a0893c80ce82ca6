"""`nativa ui`: a port already taken is the user's mistake (exit 2, one line), and the browser opens only once
the server answers."""

from __future__ import annotations

import importlib
import socket
import threading

import pytest

from nativa.cli import run

ui_module = importlib.import_module("nativa.cli.ui")  # the package re-exports the command under this name


def test_a_port_in_use_is_a_clear_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert run(["ui", "--no-open", "--port", str(port)]) == 2
    message = capsys.readouterr().err
    assert f"--port {port}" in message and "in use" in message and "Traceback" not in message


def test_the_browser_opens_once_the_server_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        waiter = threading.Thread(target=ui_module._open_when_up, args=(f"http://127.0.0.1:{port}/ui", port, 30))
        waiter.start()
        assert opened == []  # nothing listens yet
        server.listen(1)
        waiter.join(30)
    assert opened == [f"http://127.0.0.1:{port}/ui"]
