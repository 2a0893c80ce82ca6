"""`nativa bench tools`: answer accuracy, steps and time of the tool agent on a fixed task set.

The task set (`bench/tasks/tools.jsonl`) has SQL questions over the shipped sample database, each with its
exact answer and the reference query that produced it, and HTTP questions against a small JSON API that the
bench serves itself on 127.0.0.1 (so the HTTP tool runs with `--allow-private` for that one host). Every
task runs through the same pipeline as `nativa run`: intent rules (and the model when no rule decides), the
tools the intent points at, then the ToolAgent.

Scoring is strict and mechanical: a numeric answer must contain the expected number (within 0.01; thousands
separators and currency signs are ignored), a text answer must contain the expected text as a whole word,
and for "which one" questions it must not also name any of the runners-up.
"""

from __future__ import annotations

import json
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict

from nativa.bench._stats import at_most_per_kind, by_kind, load_bench_model, read_tasks

TASKS_FILE = "tools.jsonl"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class BenchTask(BaseModel):
    """One question with its exact answer; `sql` is the reference query (SQL tasks), `reject` the runners-up."""

    model_config = ConfigDict(extra="forbid")

    id: str
    kind: Literal["sql", "http"]
    question: str
    answer: str | int | float
    sql: str | None = None
    reject: list[str] = []
    alternatives: list[str] = []


@dataclass(slots=True)
class TaskResult:
    """One tool task's outcome: the answer against the expected one, steps, and time."""

    id: str
    kind: str
    model: str
    correct: bool
    expected: str
    answer: str | None
    steps: int
    model_calls: int
    stop_reason: str
    intent: str | None
    wall_s: float
    output_tokens: int
    tools: list[str] = field(default_factory=list)
    trail: list[dict[str, Any]] = field(default_factory=list)  # each step's tool, arguments and error
    escalated: bool = False  # a cascade handed the task to a later stage
    answered_by: str | None = None
    compute: float = 0.0  # tokens x parameters over every stage that ran

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON, the form the results file and `--json` keep."""
        return asdict(self)


@dataclass(slots=True)
class BenchSummary:
    """Accuracy over the tool tasks, per kind, with mean steps and median time."""

    model: str
    tasks: int
    correct: int
    accuracy: float
    by_kind: dict[str, tuple[int, int]]
    mean_steps: float
    median_s: float
    mean_s: float
    results_file: str | None = None
    escalated_share: float = 0.0
    total_output_tokens: int = 0
    total_compute: float = 0.0
    total_wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON, the form the results file and `--json` keep."""
        return asdict(self)


def load_tasks(path: Path | None = None, *, kinds: set[str] | None = None, limit: int | None = None) -> list[BenchTask]:
    """The task set, optionally only some kinds, and at most `limit` tasks of each kind."""
    tasks = read_tasks(path, TASKS_FILE, BenchTask)
    if kinds:
        tasks = [t for t in tasks if t.kind in kinds]
    return at_most_per_kind(tasks, limit)


def score(answer: str | None, task: BenchTask) -> bool:
    """Whether `answer` states the task's answer (see the module docstring for the rules)."""
    if not answer:
        return False
    text = answer.lower()
    for other in task.reject:
        if _mentions(text, str(other)):
            return False
    return any(_states(text, expected) for expected in [task.answer, *task.alternatives])


def _states(text: str, expected: str | float) -> bool:
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        cleaned = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
        return any(abs(float(n) - float(expected)) <= 0.011 for n in _NUMBER.findall(cleaned))
    return _mentions(text, str(expected))


def _mentions(text: str, phrase: str) -> bool:
    return re.search(r"(?<![\w.])" + re.escape(phrase.lower()) + r"(?![\w])", text) is not None


def run_bench(settings: Any, model_name: str, tasks: list[BenchTask], *, max_steps: int = 6,
              on_result: Callable[[TaskResult], None] | None = None) -> list[TaskResult]:
    """Run every task with one model, through the same intent + agent pipeline as `nativa run`."""
    from nativa.agent.tool_agent import ToolAgent
    from nativa.data import sample_db_url
    from nativa.intent import IntentParser
    from nativa.tools import build_tools, close_tools

    model = load_bench_model(model_name, settings)
    results: list[TaskResult] = []
    with serve_api() as base:
        tools = build_tools(settings, db=sample_db_url(), allow_hosts=["127.0.0.1"], allow_private=True,
                            allow_writes=False)
        try:
            agent = ToolAgent(model, tools, max_steps=max_steps, settings=settings,
                              intent_parser=IntentParser.from_settings(model, settings))
            for task in tasks:
                question = task.question.replace("{base}", base)
                started = time.perf_counter()
                outcome = agent.run(question)
                wall = time.perf_counter() - started
                result = TaskResult(
                    id=task.id, kind=task.kind, model=model.name, correct=score(outcome.answer, task),
                    expected=str(task.answer), answer=outcome.answer, steps=len(outcome.steps),
                    model_calls=outcome.model_calls, stop_reason=outcome.stop_reason,
                    intent=outcome.intent.kind if outcome.intent else None, wall_s=wall,
                    output_tokens=outcome.output_tokens, tools=[s.tool for s in outcome.steps],
                    trail=[{"tool": s.tool, "arguments": s.arguments, "error": s.error} for s in outcome.steps],
                    escalated=bool(outcome.escalations), answered_by=outcome.answered_by,
                    compute=outcome.cost.total.compute if outcome.cost is not None else 0.0)
                results.append(result)
                if on_result is not None:
                    on_result(result)
        finally:
            close_tools(tools)
    return results


def summarise(model: str, results: list[TaskResult], results_file: Path | None = None) -> BenchSummary:
    """The summary of one model's tool task results; `results_file` is where their lines went."""
    correct = sum(r.correct for r in results)
    times = [r.wall_s for r in results] or [0.0]
    return BenchSummary(model=model, tasks=len(results), correct=correct,
                        accuracy=correct / len(results) if results else 0.0, by_kind=by_kind(results),
                        mean_steps=statistics.fmean([r.steps for r in results]) if results else 0.0,
                        median_s=statistics.median(times), mean_s=statistics.fmean(times),
                        results_file=str(results_file) if results_file else None,
                        escalated_share=sum(r.escalated for r in results) / len(results) if results else 0.0,
                        total_output_tokens=sum(r.output_tokens for r in results),
                        total_compute=sum(r.compute for r in results), total_wall_s=sum(r.wall_s for r in results))


# -- the local JSON API of the HTTP tasks: fixed, realistic payloads the answers refer to ---------------
RATES = {"base": "EUR", "date": "2024-11-22", "rates": {"USD": 1.0842, "GBP": 0.8411, "JPY": 163.27, "CHF": 0.9305,
                                                         "SEK": 11.502}}
STATUS = {"service": "orders-api", "status": "degraded", "since": "2024-11-22T07:40:00Z",
          "components": {"database": "operational", "search": "degraded", "payments": "operational"}}
WEATHER = {"oslo": {"city": "Oslo", "temperature_c": 4, "conditions": "rain", "wind_kmh": 18},
           "lisbon": {"city": "Lisbon", "temperature_c": 17, "conditions": "sunny", "wind_kmh": 9}}
INVENTORY = {"warehouse": "Rotterdam", "items": [
    {"sku": "DESK-STD", "name": "Standing Desk", "in_stock": 17, "reserved": 4},
    {"sku": "CHAIR-OFF", "name": "Office Chair", "in_stock": 42, "reserved": 11},
    {"sku": "LAMP-DSK", "name": "Desk Lamp", "in_stock": 130, "reserved": 0}]}
USERS = {3: {"id": 3, "name": "Grace Hopper", "email": "grace.hopper@example.com", "role": "admin"},
         4: {"id": 4, "name": "Alan Turing", "email": "alan.turing@example.com", "role": "viewer"}}
INCIDENTS = {"open": [
    {"id": "INC-1042", "title": "Search latency above 2 s", "severity": "major"},
    {"id": "INC-1043", "title": "Nightly export delayed", "severity": "minor"},
    {"id": "INC-1045", "title": "Webhook retries failing for one customer", "severity": "minor"}],
    "resolved_last_7_days": 5}
ONCALL = "On-call rota, week 47\nPrimary: Ada Lovelace (ext. 4411)\nSecondary: Charles Babbage (ext. 4412)\n"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep the bench output clean
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/old/rates":
            self.send_response(301)
            self.send_header("Location", "/api/rates")
            self.end_headers()
            return
        if url.path == "/oncall.txt":
            self._send(200, ONCALL, "text/plain; charset=utf-8")
            return
        routes: dict[str, object] = {"/api/rates": RATES, "/status": STATUS, "/api/inventory": INVENTORY,
                                     "/api/incidents": INCIDENTS}
        if url.path == "/api/weather":
            city = (query.get("city") or [""])[0].lower()
            body: object = WEATHER.get(city, {"error": f"unknown city {city!r}; known: Oslo, Lisbon"})
            self._send(200 if city in WEATHER else 404, json.dumps(body), "application/json")
            return
        if url.path.startswith("/api/users/"):
            tail = url.path.rsplit("/", 1)[1]
            user = USERS.get(int(tail)) if tail.isdigit() else None
            self._send(200 if user else 404, json.dumps(user or {"error": "no such user"}), "application/json")
            return
        if url.path in routes:
            self._send(200, json.dumps(routes[url.path]), "application/json")
            return
        self._send(404, json.dumps({"error": f"no route {url.path}"}), "application/json")

    def _send(self, status: int, body: str, ctype: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serve_api() -> Iterator[str]:
    """Serve the API on a free loopback port for the duration of the block; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, name="nativa-bench-api", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
