"""Batches on real workers, with a scripted model and the real sandbox: Ray actors give the same results as
local processes, and a worker whose process is killed mid-task has its task retried elsewhere, once."""

from __future__ import annotations

import functools
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from nativa.models import ScriptedModel
from nativa.scale import Backend, Job, LocalBackend, ResultLog, WorkerInfo, WorkerSpec, parse_tasks, run_batch
from nativa.scale.ray_backend import RayBackend

pytestmark = pytest.mark.integration

DOUBLE = "```python\ndef f(x):\n    return x * 2\n```"
MODEL = functools.partial(ScriptedModel, [DOUBLE] * 100)  # each worker gets its own script


def code_tasks(slow: str | None = None) -> list[str]:
    tasks = []
    for i in range(6):
        tests = f"assert f({i}) == {2 * i}" if i % 3 else f"assert f({i}) == {2 * i + 1}"  # 0 and 3 fail
        if f"c{i}" == slow:
            tests = "import time\ntime.sleep(4)\n" + tests
        tasks.append(json.dumps({"id": f"c{i}", "kind": "code", "task": "double x with f(x)", "tests": tests,
                                 "session": f"user-{i % 2}"}))
    return tasks


def spec(tmp_path: Path) -> WorkerSpec:
    return WorkerSpec(settings={"home": str(tmp_path / "home")}, max_attempts=2)


def essentials(path: Path) -> dict[str, Any]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == len({r["id"] for r in rows}), "an id was written twice"
    return {r["id"]: (r["kind"], r["session"], r["error"], r["result"]["success"], r["result"]["code"],
                      r["result"]["stop_reason"], [a["outcome"] for a in r["result"]["attempts"]]) for r in rows}


def test_ray_actors_give_the_local_processes_results(ray_cluster: Any, tmp_path: Path) -> None:
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    run_batch(parse_tasks(code_tasks()), ResultLog(local), LocalBackend(spec(tmp_path), model_factory=MODEL),
              workers=2)
    report = run_batch(parse_tasks(code_tasks()), ResultLog(on_ray),
                       RayBackend(spec(tmp_path), model_factory=MODEL), workers=2)
    assert report.done == 6 and report.failed == 0
    expected = essentials(local)
    assert essentials(on_ray) == expected
    assert [expected[f"c{i}"][3] for i in range(6)] == [False, True, True, False, True, True]
    workers = {json.loads(line)["worker"].split("@")[0] for line in on_ray.read_text().splitlines()}
    assert workers <= {"ray-0", "ray-1"} and workers


def kill_when_started(victim: str) -> tuple[list[WorkerInfo], Any]:
    """An `on_start` hook that SIGKILLs the real process of the worker that starts `victim`, once."""
    killed: list[WorkerInfo] = []

    def on_start(job: Job, info: WorkerInfo) -> None:
        if job.id == victim and not killed:
            killed.append(info)
            threading.Timer(1.5, os.kill, (info.pid, signal.SIGKILL)).start()

    return killed, on_start


@pytest.mark.parametrize("backend_kind", ["ray", "local"])
def test_a_killed_workers_task_is_retried_elsewhere_with_no_duplicate_and_no_loss(
        backend_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if backend_kind == "ray":
        request.getfixturevalue("ray_cluster")
        backend: Backend = RayBackend(spec(tmp_path), model_factory=MODEL)
    else:
        backend = LocalBackend(spec(tmp_path), model_factory=MODEL)
    out = tmp_path / "out.jsonl"
    killed, on_start = kill_when_started("c1")
    report = run_batch(parse_tasks(code_tasks(slow="c1")), ResultLog(out), backend, workers=2, on_start=on_start)
    assert killed, "the slow task never started"
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert len(out.read_text().splitlines()) == 6 and sorted(rows) == [f"c{i}" for i in range(6)]
    victim = rows["c1"]
    assert victim["tries"] == 2 and victim["error"] is None and victim["result"]["success"] is True
    assert victim["worker"] != killed[0].name
    assert report.stats is not None and report.stats.deaths >= 1 and report.stats.retried == 1
    assert all(rows[i]["tries"] == 1 for i in rows if i != "c1")
