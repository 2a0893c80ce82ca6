"""`nativa batch` input and output: bad lines reported by number and skipped, resume from --out (a torn last
line is cut, finished ids skipped), `--ray` without Ray naming the install command."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import pytest

from nativa.cli import run
from nativa.cli._common import optional_value
from nativa.errors import BadInputError, WorkerStartError
from nativa.models import ScriptedModel
from nativa.scale import LocalBackend, ResultLog, WorkerSpec, parse_tasks, read_tasks, run_batch

GOOD = [{"id": "a", "kind": "code", "task": "double x", "tests": "assert f(2) == 4"},
        {"id": 7, "kind": "run", "task": "how many customers?", "session": "s1"},
        {"id": "n", "kind": "noop"}]


def lines(*items: object) -> list[str]:
    return [i if isinstance(i, str) else json.dumps(i) for i in items]


def test_bad_lines_are_reported_with_their_numbers_and_the_rest_kept() -> None:
    found = parse_tasks(lines(GOOD[0], "{not json", "", [1, 2], {"id": "b", "kind": "dance", "task": "x"},
                              {"id": "c", "kind": "code", "task": "  "}, GOOD[1], {"id": "a", "kind": "noop"},
                              {"id": "d", "kind": "code", "task": "x", "extra": 1}, GOOD[2]))
    assert [t.id for t in found.tasks] == ["a", "7", "n"]
    assert found.tasks[1].session == "s1" and found.tasks[0].tests == "assert f(2) == 4"
    bad = {b.line: b.reason for b in found.bad}
    assert sorted(bad) == [2, 4, 5, 6, 8, 9]
    assert bad[2].startswith("not JSON") and "JSON object" in bad[4] and bad[5].startswith("kind:")
    assert "'task' is empty" in bad[6] and bad[8] == "id 'a' already on line 1" and bad[9].startswith("extra:")


def test_unreadable_tasks_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="cannot read tasks file"):
        read_tasks(tmp_path / "absent.jsonl")


def test_resume_reads_finished_ids_and_cuts_a_torn_last_line(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"id": "a", "result": {}}) + "\n" + json.dumps({"id": "b", "result": {}}) + "\n"
                   + '{"id": "c", "resu')
    log = ResultLog(out)
    assert log.finished_ids() == {"a", "b"}
    assert out.read_text().endswith("}\n") and '"c"' not in out.read_text()
    out.write_text("garbage\n")
    with pytest.raises(BadInputError, match="line 1 is not a result line"):
        ResultLog(out).finished_ids()


def noop_tasks(n: int) -> list[str]:
    return lines(*[{"id": f"t{i}", "kind": "noop", "session": f"s{i % 2}"} for i in range(n)])


def test_local_batch_resumes_skipping_ids_already_in_the_output(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    earlier = [json.dumps({"id": f"t{i}", "kind": "noop", "worker": "earlier-run", "result": {}}) for i in (0, 3)]
    out.write_text("\n".join(earlier) + "\n")
    spec = WorkerSpec(settings={"home": str(tmp_path / "home")})
    backend = LocalBackend(spec, model_factory=functools.partial(ScriptedModel, []))
    report = run_batch(parse_tasks(noop_tasks(6)), ResultLog(out), backend, workers=2)
    assert (report.tasks, report.skipped, report.done, report.failed) == (6, 2, 4, 0)
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [w["id"] for w in written].count("t0") == 1 and sorted(w["id"] for w in written) == [
        f"t{i}" for i in range(6)]
    assert [w["worker"] for w in written[:2]] == ["earlier-run", "earlier-run"]
    new = written[2:]
    assert all(w["worker"].startswith("local-") and w["result"] == {} and w["tries"] == 1 for w in new)
    assert {w["id"]: w["session"] for w in new} == {"t1": "s1", "t2": "s0", "t4": "s0", "t5": "s1"}
    again = run_batch(parse_tasks(noop_tasks(6)), ResultLog(out), LocalBackend(spec), workers=2)
    assert (again.skipped, again.done) == (6, 0) and len(out.read_text().splitlines()) == 6


def test_a_worker_that_cannot_start_stops_the_batch_with_its_reason(tmp_path: Path) -> None:
    spec = WorkerSpec(model="no-such-model", settings={"home": str(tmp_path / "home")})
    with pytest.raises(WorkerStartError, match="unknown model 'no-such-model'"):
        run_batch(parse_tasks(noop_tasks(2)), ResultLog(tmp_path / "out.jsonl"), LocalBackend(spec), workers=1)
    assert not (tmp_path / "out.jsonl").exists() or (tmp_path / "out.jsonl").read_text() == ""


def test_cli_reports_bad_lines_runs_the_rest_and_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join(noop_tasks(3) + ["oops"]) + "\n")
    monkeypatch.setattr("nativa.scale.local.LocalBackend",
                        functools.partial(LocalBackend, model_factory=functools.partial(ScriptedModel, [])))
    out = tmp_path / "out.jsonl"
    assert run(["batch", str(tasks), "--out", str(out), "--workers", "1"]) == 2
    captured = capsys.readouterr()
    assert f"{tasks} line 4: not JSON" in captured.err and "3 done" in captured.err
    assert sorted(json.loads(x)["id"] for x in out.read_text().splitlines()) == ["t0", "t1", "t2"]


def test_ray_flag_without_ray_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join(noop_tasks(1)) + "\n")
    monkeypatch.setitem(sys.modules, "ray", None)  # what an install without the extra looks like
    assert run(["batch", str(tasks), "--ray"]) == 2
    assert "pip install 'nativa[ray]'" in capsys.readouterr().err
    assert run(["serve", "--ray"]) == 2
    assert "pip install 'nativa[ray]'" in capsys.readouterr().err
    assert run(["bench", "humaneval", "--ray", "--limit", "1"]) == 2
    assert "pip install 'nativa[ray]'" in capsys.readouterr().err


def test_ray_takes_an_optional_address() -> None:
    assert optional_value(["batch", "t.jsonl", "--ray"], "--ray") == ["batch", "t.jsonl", "--ray="]
    assert optional_value(["batch", "--ray", "t.jsonl"], "--ray") == ["batch", "--ray=", "t.jsonl"]
    assert optional_value(["batch", "--ray", "--workers", "2"], "--ray") == ["batch", "--ray=", "--workers", "2"]
    assert optional_value(["x", "--ray", "auto"], "--ray") == ["x", "--ray", "auto"]
    assert optional_value(["x", "--ray", "ray://head:10001"], "--ray") == ["x", "--ray", "ray://head:10001"]
    assert optional_value(["x", "--ray", "10.0.0.5:6379"], "--ray") == ["x", "--ray", "10.0.0.5:6379"]


def test_serve_on_ray_refuses_a_replica_range_upside_down(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["serve", "--ray", "--min-replicas", "3", "--max-replicas", "1"]) == 2
    assert "--min-replicas 3 is above --max-replicas 1" in capsys.readouterr().err
