"""The measured goals, held as tests: benign candidates rarely high, every hostile or risky snippet at least medium."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nativa.bench.review import HOSTILE_DEFAULT, benign_sets, hostile_battery, risky_snippets, score_set
from nativa.cli import run
from nativa.review import Policy

ROOT = Path(__file__).parents[3]


def test_every_hostile_battery_case_is_at_least_medium(policy: Policy) -> None:
    battery = hostile_battery(ROOT / HOSTILE_DEFAULT)
    assert len(battery) >= 19  # the whole battery of the sandbox tests, as they build it
    result = score_set(policy, "hostile", "hostile", battery)
    assert result.missed == [] and result.total == len(battery)


def test_every_own_risky_snippet_is_at_least_medium(policy: Policy) -> None:
    snippets = risky_snippets()
    assert len(snippets) >= 30 and len({s.id for s in snippets}) == len(snippets)
    assert {s.source.split(":")[1] for s in snippets} >= {"network", "subprocess", "file-write", "deserialisation",
                                                          "obfuscated-import"}
    assert score_set(policy, "risky", "hostile", snippets).missed == []


def test_benign_benchmark_candidates_are_rarely_high(policy: Policy) -> None:
    code, calls = benign_sets(str(ROOT / "docs/results/*.jsonl"))
    assert len(code) > 500 and len(calls) > 100
    for name, snippets in (("code", code), ("calls", calls)):
        result = score_set(policy, name, "benign", snippets)
        assert result.high_share <= 0.02, result.flagged_high[:10]


def test_bench_review_without_timing_reports_every_set(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    assert run(["bench", "review", "--runs", "0", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in body["sets"]] == ["HumanEval candidates", "tool calls (tools bench)",
                                                "hostile battery (sandbox tests)", "risky snippets (own)"]
    assert all(body["goals_met"].values()) and "cost" not in body["goals_met"]
    assert run(["bench", "review", "--runs", "0", "--hostile", "absent.py"]) == 2
