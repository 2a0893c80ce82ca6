"""`nativa review check | ask | log`: exit codes, the JSON shapes, verification, failing closed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from nativa.cli import _common, run


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_check_exit_codes_and_json_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    risky = _file(tmp_path, "risky.py", "import json\nimport socket\n")
    assert run(["review", "check", str(risky), "--json"]) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["max_risk"] == "high"
    assert body["findings"] == [{"rule": "network", "risk": "high", "line": 2,
                                 "message": "imports socket: uses the network", "target": "socket"}]
    clean = _file(tmp_path, "clean.py", "print(1)\nopen('out.txt', 'w')\n")
    assert run(["review", "check", str(clean), "--json"]) == 0  # a low finding only: exit 0
    assert json.loads(capsys.readouterr().out)["max_risk"] == "low"
    assert run(["review", "check", str(_file(tmp_path, "none.py", "x = 1\n"))]) == 0
    assert "no findings (max risk: none" in capsys.readouterr().out


def test_check_prints_a_readable_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["review", "check", str(_file(tmp_path, "a.py", "import os\nos.system('id')\n"))]) == 1
    text = capsys.readouterr().out
    assert "subprocess" in text and "os.system: starts a program" in text and "max risk: high" in text


def test_check_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["review", "check", str(tmp_path / "absent.py")]) == 2
    bad_policy = _file(tmp_path, "p.toml", '[rules.network]\nrisk = "extreme"\n')
    ok = _file(tmp_path, "ok.py", "x = 1\n")
    assert run(["review", "check", str(ok), "--policy", str(bad_policy)]) == 2
    error = capsys.readouterr().err
    assert 'rules.network.risk = "extreme" is invalid' in error and "Traceback" not in error
    assert run(["review", "check", str(_file(tmp_path, "q.json", "[1]")), "--tool", "sql"]) == 2


def test_check_tool_calls_and_the_policy_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    call = _file(tmp_path, "call.json", json.dumps({"url": "https://api.example.com/x"}))
    assert run(["review", "check", str(call), "--tool", "http", "--allow-host", "api.example.com"]) == 0
    assert run(["review", "check", str(call), "--tool", "http"]) == 1
    capsys.readouterr()
    monkeypatch.setenv("NATIVA_REVIEW_POLICY", str(_file(tmp_path, "team.toml", '[rules.host-not-allowed]\n'
                                                                                  'risk = "low"\n')))
    _common.reset_settings()  # a new invocation reads the environment again
    assert run(["review", "check", str(call), "--tool", "http"]) == 0


def test_ask_fails_closed_without_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "review.db"
    code = _file(tmp_path, "w.py", "open('/etc/x', 'w')\n")
    assert run(["review", "ask", str(code), "--db", str(db)]) == 1
    assert "there is no terminal to ask" in capsys.readouterr().err
    assert run(["review", "ask", str(_file(tmp_path, "ok.py", "x = 1\n")), "--db", str(db)]) == 0
    assert run(["review", "ask", str(code), "--db", str(db), "--mode", "sometimes"]) == 2
    capsys.readouterr()
    assert run(["review", "log", "--db", str(db), "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)["entries"]
    assert [(e["verdict"], e["approved"]) for e in entries] == [("unavailable", False), ("not_needed", True)]


def test_log_lists_filters_and_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "review.db"
    code = _file(tmp_path, "ok.py", "x = 1\n")
    for session in ("alpha", "beta", "alpha"):
        assert run(["review", "ask", str(code), "--db", str(db), "--session", session]) == 0
    capsys.readouterr()
    assert run(["review", "log", "--db", str(db), "--session", "alpha", "--json"]) == 0
    assert [e["seq"] for e in json.loads(capsys.readouterr().out)["entries"]] == [1, 3]
    assert run(["review", "log", "--db", str(db)]) == 0
    table = capsys.readouterr().out
    assert "not_needed" in table and "beta" in table
    assert run(["review", "log", "--db", str(db), "--verify"]) == 0
    assert "the hash chain is intact" in capsys.readouterr().out
    raw = sqlite3.connect(db)
    raw.execute("DROP TRIGGER review_audit_no_update")
    raw.execute("UPDATE review_audit SET who = 'mallory' WHERE seq = 2")
    raw.commit()
    raw.close()
    assert run(["review", "log", "--db", str(db), "--verify", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["problems"][0]["seq"] == 2 and report["problems"][0]["kind"] == "edited"


def test_log_without_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["review", "log"]) == 0  # the default file does not exist yet: an empty log, nothing created
    assert "no review entries" in capsys.readouterr().out
    assert run(["review", "log", "--db", str(tmp_path / "absent.db")]) == 2
