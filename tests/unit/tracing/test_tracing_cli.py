"""`nativa traces ls | show | stats` and `nativa bench tracing`, driven through Typer as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from nativa import tracing
from nativa.cli.traces import bench_tracing, traces_app
from nativa.config import Settings
from nativa.errors import BadInputError

app = typer.Typer()
app.add_typer(traces_app, name="traces")
app.command("bench-tracing")(bench_tracing)
runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Three runs traced into the store NATIVA_HOME points at; returns their trace ids, oldest first."""
    monkeypatch.setenv("NATIVA_HOME", str(tmp_path))
    tracing.setup(Settings(home=tmp_path))
    ids = []
    for n, model in enumerate(["small", "small", "large"]):
        with tracing.agent_span("code_agent") as run:
            with tracing.model_span(model=model, provider="llama.cpp") as ms:
                ms.set_result(input_tokens=10 * (n + 1), output_tokens=n + 1)
            with tracing.tool_span("sql"):
                pass
        ids.append(run.trace_id)
    tracing.shutdown()
    return ids


def test_ls_json_newest_first(store: list[str]) -> None:
    result = runner.invoke(app, ["traces", "ls", "--json", "--limit", "2"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [t["trace_id"] for t in listed] == [store[2], store[1]]
    assert listed[0]["root_name"] == "invoke_agent code_agent"
    assert (listed[0]["input_tokens"], listed[0]["output_tokens"], listed[0]["status"]) == (30, 3, "ok")


def test_ls_table_and_empty_store(store: list[str], tmp_path: Path) -> None:
    result = runner.invoke(app, ["traces", "ls"])
    assert result.exit_code == 0 and store[0][:12] in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["traces", "ls", "--dir", str(empty)])
    assert result.exit_code == 0 and "no traces yet" in result.output


@pytest.mark.parametrize("columns", ["160", "80", "50"])
def test_show_tree_and_json(store: list[str], monkeypatch: pytest.MonkeyPatch, columns: str) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    result = runner.invoke(app, ["traces", "show", store[0][:10]])
    assert result.exit_code == 0, result.output
    assert "invoke_agent code_agent" in result.output and "chat small" in result.output
    assert "execute_tool sql" in result.output and "tokens 10→1" in result.output
    detail = json.loads(runner.invoke(app, ["traces", "show", store[0], "--json"]).output)
    assert detail["summary"]["trace_id"] == store[0]
    assert sorted(s["name"] for s in detail["spans"]) == [
        "chat small",
        "execute_tool sql",
        "invoke_agent code_agent",
    ]


def test_show_unknown_id_is_bad_input(store: list[str]) -> None:
    result = runner.invoke(app, ["traces", "show", "deadbeefdeadbeef"])
    assert isinstance(result.exception, BadInputError)
    assert "no trace with id 'deadbeefdeadbeef'" in str(result.exception)
    assert "nativa traces ls" in str(result.exception)


def test_stats_json_per_model_and_tool(store: list[str]) -> None:
    result = runner.invoke(app, ["traces", "stats", "--since", "1h", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    rows = {(r["kind"], r["name"]): r for r in report["rows"]}
    assert rows[("model", "small")]["count"] == 2 and rows[("model", "small")]["input_tokens"] == 30
    assert rows[("model", "large")]["count"] == 1 and rows[("tool", "sql")]["count"] == 3
    assert report["since_s"] == 3600 and report["traces"] == 3


def test_stats_bad_since_is_bad_input(store: list[str]) -> None:
    result = runner.invoke(app, ["traces", "stats", "--since", "1x"])
    assert isinstance(result.exception, BadInputError)
    assert "--since '1x'" in str(result.exception) and "30m, 1h, 7d" in str(result.exception)


def test_missing_dir_is_bad_input(tmp_path: Path) -> None:
    result = runner.invoke(app, ["traces", "ls", "--dir", str(tmp_path / "nope")])
    assert isinstance(result.exception, BadInputError) and "no such directory" in str(result.exception)


def test_bench_tracing_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATIVA_HOME", str(tmp_path))
    result = runner.invoke(
        app, ["bench-tracing", "--spans", "300", "--runs", "3", "--model-ms", "20", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    costs = {c["kind"]: c for c in report["span_costs"]}
    assert set(costs) == {"span (empty)", "model span (GenAI attrs + metrics)"}
    for c in costs.values():
        assert 0 < c["off_us"] < c["on_us"] <= c["on_with_export_us"]
        assert c["added_us"] == pytest.approx(c["on_with_export_us"] - c["off_us"])
    assert report["verdict"] in {"met", "met (A/B within noise)", "missed"}
    assert report["meets_goal"] is (report["verdict"] != "missed")
    run = report["run"]
    assert run["spans_per_run"] == 13  # agent + 3 x (attempt, model, sandbox, tool)
    assert len(run["on_runs_s"]) == len(run["off_runs_s"]) == 3
    # the estimate is the dearer span's cost x spans per run / run time (its size is the benchmark's figure,
    # which depends on the machine's load, so it is not asserted here)
    dearest = max(c["added_us"] for c in costs.values())
    assert run["estimated_fraction"] == pytest.approx(13 * dearest * 1e-6 / run["off_median_s"])
    assert run["estimated_fraction"] > 0 and run["measured_noise"] >= 0
    assert not (tmp_path / "data" / "traces").exists()  # the bench writes to a throwaway store
