"""The sentence task set is a fair benchmark: well-formed, passable by its reference, and not passable by junk.

Unit tests check the file's shape without running code; the integration test runs every task's reference, and
two deliberately wrong solutions, in nativa's real sandbox.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from nativa.bench.sentence import TASKS_FILE, SentenceTask, checking_program, load_sentence_tasks
from nativa.errors import BadInputError
from nativa.sandbox import Sandbox

FIELDS = {"id": str, "task": str, "entry_point": str, "visible_test": str, "hidden_tests": list,
          "reference": str, "difficulty": str}
# Pure-computation modules a reference may use: anything else could mean I/O, time or randomness.
ALLOWED_IMPORTS = {"bisect", "collections", "functools", "heapq", "itertools", "math", "re", "string"}
FORBIDDEN_CALLS = {"open", "input", "print", "exec", "eval", "compile", "__import__"}

TASKS = load_sentence_tasks()


def raw_lines() -> list[dict[str, object]]:
    text = resources.files("nativa.bench").joinpath("tasks", TASKS_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def called_names(source: str) -> set[str]:
    return {n.func.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def single_assert(source: str) -> ast.Assert:
    body = ast.parse(source).body
    assert len(body) == 1 and isinstance(body[0], ast.Assert), f"not one assert statement: {source!r}"
    return body[0]


def names_function(task: SentenceTask) -> bool:
    return re.search(rf"\b{re.escape(task.entry_point)}\b", task.task) is not None


def test_every_line_has_exactly_the_documented_fields_with_their_types() -> None:
    rows = raw_lines()
    assert len(rows) >= 120
    for row in rows:
        assert set(row) == set(FIELDS), row.get("id")
        for key, kind in FIELDS.items():
            assert isinstance(row[key], kind), (row["id"], key)
        assert all(isinstance(t, str) for t in row["hidden_tests"]), row["id"]  # type: ignore[union-attr]


def test_ids_are_unique_and_the_loader_keeps_file_order() -> None:
    ids = [row["id"] for row in raw_lines()]
    assert len(ids) == len(set(ids))
    assert [t.id for t in TASKS] == ids
    assert all(re.fullmatch(r"st-\d{3}", i) for i in ids)  # type: ignore[arg-type]


def test_loaded_tasks_are_frozen_and_typed() -> None:
    task = TASKS[0]
    assert isinstance(task, SentenceTask) and dataclasses.is_dataclass(task)
    assert isinstance(task.hidden_tests, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.task = "changed"  # type: ignore[misc]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_task_shape(task: SentenceTask) -> None:
    assert task.entry_point.isidentifier()
    # One sentence, as a user types it.
    assert "\n" not in task.task and task.task.startswith("Write ") and task.task.endswith(".")
    # The visible test is `assert entry_point(...) == <literal>`: it names the function the hidden tests call.
    visible = single_assert(task.visible_test)
    assert isinstance(visible.test, ast.Compare) and isinstance(visible.test.ops[0], ast.Eq)
    call = visible.test.left
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == task.entry_point
    ast.literal_eval(visible.test.comparators[0])
    # 3 to 6 hidden asserts, distinct, none the visible one, each calling the entry point.
    assert 3 <= len(task.hidden_tests) <= 6
    assert len(set(task.hidden_tests)) == len(task.hidden_tests)
    assert task.visible_test not in task.hidden_tests
    for test in task.hidden_tests:
        single_assert(test)
        assert task.entry_point in called_names(test), test
    # The reference defines the entry point at top level and does no I/O, timing or randomness.
    tree = ast.parse(task.reference)
    assert task.entry_point in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert {a.name.split(".")[0] for a in node.names} <= ALLOWED_IMPORTS, task.id
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] in ALLOWED_IMPORTS, task.id
    assert not called_names(task.reference) & FORBIDDEN_CALLS, task.id


def test_difficulty_mix_is_about_40_40_20() -> None:
    share = {k: v / len(TASKS) for k, v in Counter(t.difficulty for t in TASKS).items()}
    assert 0.35 <= share["easy"] <= 0.45
    assert 0.35 <= share["medium"] <= 0.45
    assert 0.15 <= share["hard"] <= 0.25
    # Interleaved, so the first N tasks of a short run are a mix too.
    assert {t.difficulty for t in TASKS[:10]} == {"easy", "medium", "hard"}


def test_about_half_of_the_sentences_never_name_the_function() -> None:
    unnamed = sum(not names_function(t) for t in TASKS) / len(TASKS)
    assert 0.4 <= unnamed <= 0.6


def test_loader_rejects_a_bad_line_naming_it(tmp_path: Path) -> None:
    good = raw_lines()[0]
    path = tmp_path / "tasks.jsonl"
    missing = {k: v for k, v in good.items() if k != "reference"}
    path.write_text(json.dumps(good) + "\n" + json.dumps(missing) + "\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"line 2: reference: Field required"):
        load_sentence_tasks(path)
    path.write_text(json.dumps({**good, "hidden_tests": "assert x"}) + "\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"line 1: hidden_tests"):
        load_sentence_tasks(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"line 2: id 'st-001' is used twice"):
        load_sentence_tasks(path)
    with pytest.raises(BadInputError, match="cannot read"):
        load_sentence_tasks(tmp_path / "absent.jsonl")


def wrong_solutions(task: SentenceTask) -> dict[str, str]:
    """Two answers a weak oracle would accept: one that returns None, one that hard-codes the visible answer."""
    fn = next(n for n in ast.parse(task.reference).body if isinstance(n, ast.FunctionDef) and n.name == task.entry_point)
    head = f"def {task.entry_point}({ast.unparse(fn.args)}):\n    return "
    visible = single_assert(task.visible_test).test
    assert isinstance(visible, ast.Compare)
    return {"returns None": head + "None\n", "returns the visible answer": head + ast.unparse(visible.comparators[0]) + "\n"}


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox()


@pytest.mark.integration
@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_reference_passes_every_test_and_wrong_answers_fail_a_hidden_one(sandbox: Sandbox, task: SentenceTask) -> None:
    run = sandbox.run(checking_program(task.reference, [task.visible_test, *task.hidden_tests]), timeout_s=20)
    assert run.ok, f"{task.id}: the reference fails: {run.error_type}: {run.error_message}\n{run.traceback}"
    for label, code in wrong_solutions(task).items():
        wrong = sandbox.run(checking_program(code, task.hidden_tests), timeout_s=20)
        assert not wrong.ok, f"{task.id}: a solution that {label} passes every hidden test"
        # It failed on an assert (or on using the wrong value), not because the sandbox or the program broke.
        assert wrong.killed_by is None and wrong.error_type not in ("SyntaxError", "NameError"), \
            f"{task.id} ({label}): {wrong.error_type}: {wrong.error_message}"
