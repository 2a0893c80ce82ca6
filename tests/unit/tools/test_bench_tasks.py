"""The tools bench's task set stays true: every SQL answer is what its reference query returns on the sample
database, every HTTP answer is in what the bench's local API serves, and the scoring is strict."""

from __future__ import annotations

import pytest

from nativa.bench.tools import BenchTask, load_tasks, score, serve_api
from nativa.data import sample_db_url
from nativa.tools.http import HTTPFetcher
from nativa.tools.sql import SQLDatabase

TASKS = load_tasks()


def test_task_set_size_and_ids() -> None:
    kinds = [t.kind for t in TASKS]
    assert kinds.count("sql") >= 40 and kinds.count("http") >= 8
    assert len({t.id for t in TASKS}) == len(TASKS)
    assert len(load_tasks(kinds={"http"}, limit=2)) == 2


@pytest.mark.parametrize("task", [t for t in TASKS if t.kind == "sql"], ids=lambda t: t.id)
def test_sql_answers_match_their_reference_query(task: BenchTask) -> None:
    database = SQLDatabase(sample_db_url())
    try:
        rows = database.query(task.sql or "").rows
    finally:
        database.close()
    value = rows[0][0]
    if isinstance(task.answer, float):
        assert round(float(value), 2) == task.answer
    else:
        assert str(value) == str(task.answer) or value == task.answer
    for other in task.reject:  # runners-up are real rows, and none ties with the winner
        assert other != str(task.answer)


def test_http_answers_are_in_what_the_local_api_serves() -> None:
    with serve_api() as base:
        fetcher = HTTPFetcher(["127.0.0.1"], allow_private=True)
        try:
            for task in (t for t in TASKS if t.kind == "http"):
                url = next(w for w in task.question.replace("{base}", base).split() if w.startswith("http"))
                body = fetcher.fetch(url.rstrip("?,")).text
                if task.id == "http-incidents":
                    assert body.count('"id": "INC-') == task.answer
                else:
                    assert str(task.answer) in body, (task.id, body)
        finally:
            fetcher.close()


@pytest.mark.parametrize(("answer", "expected", "ok"), [
    ("240", 240, True), ("There are 240 customers.", 240, True), ("241", 240, False),
    ("$600,033.11 in total", 600033.11, True), ("600033.1", 600033.11, True), ("600033.0", 600033.11, False), ("about 600 thousand", 600033.11, False),
    ("In 2023, 69 orders were cancelled", 69, True), ("1.0842", 1.0842, True),
    ("West", "West", True), ("the west region", "West", True), ("Western", "West", False),
    ("West, then East", "West", False), (None, "West", False), ("", 240, False),
    ("grace.hopper@example.com", "grace.hopper@example.com", True), ("2021-01-02", "2021-01-02", True),
])
def test_scoring_is_strict(answer: str | None, expected: str | float, ok: bool) -> None:
    task = BenchTask(id="t", kind="sql", question="q", answer=expected, reject=["East"] if expected == "West" else [])
    assert score(answer, task) is ok


def test_alternative_answers() -> None:
    task = BenchTask(id="m", kind="sql", question="month?", answer=12, alternatives=["December"])
    assert score("December", task) and score("month 12", task) and not score("November", task)
