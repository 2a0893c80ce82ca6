"""The CLI's contract: exit 0 on success, 2 for bad input, 1 for failures, one clear line, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.openai_server import ServerScript, StandInServer, free_port

from nativa.cli import run


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("models", "ask", "doctor", "bench"):
        assert cmd in out


def test_unknown_model_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["ask", "hi", "--model", "gpt-17"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'gpt-17'" in err and "small, large" in err and "Traceback" not in err


def test_empty_prompt_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["ask", "   "]) == 2
    assert "PROMPT is empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "match"),
    [(None, "cannot read --schema file"), ("{not json", "is not valid JSON"), ('["a"]', "must be a JSON object")],
)
def test_bad_schema_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, match: str) -> None:
    schema = tmp_path / "schema.json"
    if content is not None:
        schema.write_text(content)
    assert run(["ask", "hi", "--schema", str(schema)]) == 2
    assert match in capsys.readouterr().err


def test_bad_flag_value_is_exit_2() -> None:
    assert run(["ask", "hi", "--max-tokens", "0"]) == 2


def test_bad_config_is_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NATIVA_TEMPERATURE", "hot")
    assert run(["ask", "hi"]) == 2
    assert "NATIVA_TEMPERATURE" in capsys.readouterr().err


@pytest.mark.integration  # a real server on loopback
def test_ask_streams_from_an_openai_compatible_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with StandInServer(ServerScript()) as srv:
        monkeypatch.setenv("NATIVA_OPENAI_BASE_URL", srv.url)
        assert run(["ask", "reverse a string", "--model", "openai:stand-in"]) == 0
        out = capsys.readouterr().out
        assert "def reverse(s):" in out
        assert run(["ask", "reverse a string", "--model", "openai:stand-in", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
    assert data["text"] == "def reverse(s):\n    return s[::-1]" and data["finish_reason"] == "stop"
    assert {"input_tokens", "output_tokens", "latency_s", "model"} <= data.keys()


def test_unreachable_server_is_exit_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NATIVA_OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("NATIVA_OPENAI_MAX_RETRIES", "0")
    assert run(["ask", "hi", "--model", "openai:x"]) == 1
    err = capsys.readouterr().err
    assert "unreachable" in err and "Traceback" not in err


def test_models_json_lists_embedded_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["models", "--json"]) == 0
    models = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert {"small", "large"} <= models.keys()
    for m in models.values():
        assert {"name", "source", "path", "size_bytes", "verified", "loaded"} <= m.keys()
    assert models["small"]["installed"] is True
    assert models["small"]["verified"] is False  # a fresh NATIVA_HOME has nothing assembled yet


def test_doctor_json_reports_python_llama_and_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["python"]["version"].startswith("3.")
    assert "version" in report["llama_cpp"]
    assert [m["name"] for m in report["models"]][:2] == ["small", "large"]
    assert "tier" in report["sandbox"]


def _flat(text: str) -> str:
    """The table's text with borders and line wrapping removed, so a wrapped cell reads as one line."""
    return " ".join(text.replace("│", " ").replace("┃", " ").split())


def test_doctor_prints_the_reason_for_each_missing_piece(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from nativa.sandbox import ProbeReport

    missing = "bubblewrap (bwrap) is not installed: install the Debian package 'bubblewrap' for tier A"
    host = ProbeReport(tier="B", layers=["landlock-fs", "seccomp"], available=["B"], is_root=True, notes=[missing])
    monkeypatch.setattr("nativa.sandbox.probe", lambda: host)
    assert run(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert run(["doctor"]) == 0
    text = _flat(capsys.readouterr().out)
    assert f"why: {missing}" in text
    for note in [n for m in report["models"] for n in m["notes"]]:  # e.g. a model extra not installed
        assert _flat(f"why: {note}") in text
