"""`nativa bench intent` from the command line: a row per system, the per-request file, and the calibration."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from nativa.cli import run
from nativa.models import ScriptedModel, ScriptedReply
from nativa.models.base import ChatModel
from nativa.models.cascade import CascadeModel


def _sure(kind: str) -> ScriptedReply:
    return ScriptedReply(f'{{"kind": "{kind}"}}')


def _doubtful(kind: str) -> ScriptedReply:
    return ScriptedReply(f'{{"kind": "{kind}"}}', logprob=math.log(0.3), alternatives=((' "chat"}', math.log(0.7)),))


@pytest.fixture
def models(monkeypatch: pytest.MonkeyPatch) -> dict[str, ChatModel]:
    made: dict[str, ChatModel] = {}

    def resolve(name: str, settings: object) -> ChatModel:
        if name == "cascade":
            return CascadeModel(("small", "large"), lambda stage: resolve(stage, settings))
        made[name] = ScriptedModel([_doubtful("code") if name == "small" else _sure("code")] * 20, name=name)
        return made[name]

    monkeypatch.setattr("nativa.models.resolve_model", resolve)
    return made


def test_bench_intent_reports_each_system_and_keeps_every_request(models: dict[str, ChatModel], tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "intent.jsonl"
    code = run(["bench", "intent", "-m", "small", "-m", "cascade", "--limit", "1", "--out", str(out), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and [s["model"] for s in data] == ["small", "cascade:small,large"]
    small, cascade = data
    assert small["tasks"] == cascade["tasks"] == 5  # one request of each kind of the test split
    assert small["escalated_share"] == 0.0 and cascade["escalated_share"] == 1.0  # every model pick was doubtful
    rows = [json.loads(line) for line in (tmp_path / "intent-cascade.jsonl").read_text().splitlines()]
    assert len(rows) == 5 and all(r["stage"] == "large" for r in rows if r["source"] == "model")
    assert all(r["escalation"] == "small: p(code)=0.30 < 0.70" for r in rows if r["source"] == "model")


def test_bench_intent_calibrate_prints_the_threshold_table(models: dict[str, ChatModel], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["bench", "intent", "--calibrate", "--limit", "1", "--out", str(tmp_path / "c.jsonl"), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["stages"] == ["small", "large"]
    calibration = data["calibration"]
    # every model pick of the small stage has p=0.30 and is right (code) only on the code request, where the
    # large one is right too: escalating costs accuracy nowhere, so the lowest threshold reaches the large model
    assert calibration["tasks"] == 5 and calibration["chosen"] == 0.5
    assert [r["threshold"] for r in calibration["rows"]][:2] == [0.5, 0.6]


def test_bench_intent_names_a_bad_split() -> None:
    assert run(["bench", "intent", "--split", "train"]) == 2


def test_bench_intent_calibrate_refuses_the_flags_it_would_ignore(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["bench", "intent", "--calibrate", "-m", "large"]) == 2
    assert run(["bench", "intent", "--calibrate", "--split", "test"]) == 2
    assert "drop --model and --split" in capsys.readouterr().err
