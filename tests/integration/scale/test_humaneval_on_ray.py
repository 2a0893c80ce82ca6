"""`nativa bench humaneval --ray`: the per-problem unit (`solve_problem`) on a Ray actor gives the verdicts a
local run gives, on the real HumanEval problems and hidden tests, with a scripted model."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from nativa.agent import CodeAgent
from nativa.bench import humaneval as he
from nativa.models import ScriptedModel
from nativa.sandbox import Sandbox
from nativa.scale import WorkerSpec
from nativa.scale.batch import run_humaneval
from nativa.scale.ray_backend import RayBackend

pytestmark = pytest.mark.integration


def replies(problems: list[dict[str, Any]]) -> list[str]:
    """The canonical solution for even problems, a wrong body for odd ones: one model call each."""
    out = []
    for i, p in enumerate(problems):
        body = p["canonical_solution"] if i % 2 == 0 else "    return None\n"
        out.append(f"```python\n{p['prompt']}{body}```")
    return out


def test_humaneval_on_ray_gives_the_local_verdicts(ray_cluster: Any, tmp_path: Path) -> None:
    problems = he.load_problems(4)
    sandbox = Sandbox()
    agent = CodeAgent(ScriptedModel(replies(problems)), sandbox, max_attempts=1, temperature=0.0)
    local = he.run_nativa(problems, agent, sandbox, attempts=1)
    backend = RayBackend(WorkerSpec(settings={"home": str(tmp_path / "home")}),
                         model_factory=functools.partial(ScriptedModel, replies(problems)))
    on_ray = run_humaneval(backend, problems, attempts=1, workers=1)
    assert [r.task_id for r in on_ray] == [p["task_id"] for p in problems]
    assert [r.passed_after for r in on_ray] == [r.passed_after for r in local] == [[True], [False], [True], [False]]
    assert [r.code for r in on_ray] == [r.code for r in local]
