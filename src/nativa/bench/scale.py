"""`nativa bench batch` and `nativa bench ray-serve`: what scale-out costs and buys on this machine.

batch: the same code tasks (real model, real sandbox) through `run_batch` on local processes and on Ray
actors, 1 and N workers, alternating, with each worker's model threads = cores / workers on both sides; and
no-op tasks through the same path, whose wall time per task is the dispatch overhead of each backend.

ray-serve: the same app and model served by plain `nativa serve` (a process, uvicorn) and by a Ray Serve
deployment (one replica, same threads), the same requests alternating between them: requests/s and
p50/p95 for chat, and for `/healthz`, which touches no model, so its difference is Ray Serve's own hop.
Then the cold start of each model's deployment from zero replicas: the first request's wall time.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from nativa.bench._load import drive
from nativa.bench._stats import median, percentile
from nativa.config import Settings
from nativa.errors import NativaError

Log = Callable[[str], None]

# Small, distinct tasks with tests, so every run does the same work: the agent writes, the sandbox checks.
CODE_TASKS = [
    ("add", "Write a Python function add(a, b) that returns the sum of a and b.", "assert add(2, 3) == 5"),
    ("rev", "Write a Python function rev(s) that returns the string s reversed.", "assert rev('abc') == 'cba'"),
    ("evens", "Write a Python function evens(xs) that returns the even numbers of the list xs, in order.",
     "assert evens([1, 2, 3, 4]) == [2, 4]"),
    ("fact", "Write a Python function fact(n) that returns n factorial.", "assert fact(5) == 120"),
    ("vowels", "Write a Python function vowels(s) that counts the vowels (aeiou) in s.",
     "assert vowels('banana') == 3"),
    ("maxi", "Write a Python function maxi(xs) that returns the largest number in the list xs.",
     "assert maxi([3, 9, 2]) == 9"),
    ("square", "Write a Python function square(x) that returns x squared.", "assert square(7) == 49"),
    ("upper", "Write a Python function upper(s) that returns s in capital letters.", "assert upper('ab') == 'AB'"),
]


def task_lines(n: int, kind: str = "code") -> list[str]:
    """`n` batch input lines: code tasks cycling through `CODE_TASKS`, or no-op tasks that measure
    the dispatch alone."""
    import json

    if kind == "noop":
        return [json.dumps({"id": f"noop-{i}", "kind": "noop"}) for i in range(n)]
    return [json.dumps({"id": f"{CODE_TASKS[i % len(CODE_TASKS)][0]}-{i}", "kind": "code",
                        "task": CODE_TASKS[i % len(CODE_TASKS)][1], "tests": CODE_TASKS[i % len(CODE_TASKS)][2]})
            for i in range(n)]


@dataclass
class BatchRun:
    """One batch run: backend, workers, tasks, how many failed and were solved, and its wall time."""

    backend: str
    workers: int
    kind: str
    tasks: int
    errors: int
    solved: int
    wall_s: float
    first_ready_s: float
    tasks_per_minute: float
    steady_tasks_per_minute: float
    per_task_s: float  # steady wall per task (no-op runs: the dispatch overhead)


@dataclass
class BatchBenchResult:
    """The batch bench: every run, on how many cores, and what starting Ray cost."""

    model: str
    cores: int
    ray_init_s: float
    runs: list[BatchRun] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON, the form the results file and `--json` keep."""
        return asdict(self)


def run_batch_bench(settings: Settings, *, model: str, tasks: int, noop: int, workers: Sequence[int], rounds: int,
                    log: Log) -> BatchBenchResult:
    """Every (backend, workers) pair `rounds` times, the order reversed every other round. No-op runs write
    their lines to memory, so their per-task time is the dispatch path's alone (code runs fsync each line)."""
    import io

    from nativa.scale import ResultLog, WorkerSpec, make_backend, parse_tasks, run_batch
    from nativa.scale.ray_backend import connect

    cores = os.cpu_count() or 1
    began = time.perf_counter()
    connect(None)
    result = BatchBenchResult(model=model, cores=cores, ray_init_s=time.perf_counter() - began)
    spec = WorkerSpec(model=model, settings={"home": str(settings.home)}, max_attempts=2)
    pairs = [(name, count) for count in workers for name in ("local", "ray")]
    plan = [("code", tasks, pair) for pair in pairs if tasks] + [
        ("noop", noop, pair) for pair in pairs if noop and pair[1] == workers[0]]
    with tempfile.TemporaryDirectory(prefix="nativa-bench-batch-") as tmp:
        for r in range(rounds):
            for i, (kind, n, (backend_name, count)) in enumerate(plan if r % 2 == 0 else plan[::-1]):
                backend = make_backend(spec, use_ray=backend_name == "ray", ray_address=None, workers=count,
                                       cpus_per_worker=max(1, cores // count) if backend_name == "ray" else None)
                log_to = ResultLog(Path(tmp) / f"{r}-{i}.jsonl") if kind == "code" else ResultLog(None, io.StringIO())
                solved = [0]

                def done(outcome: Any, solved: list[int] = solved) -> None:
                    solved[0] += bool(outcome.result and outcome.result.get("success"))

                report = run_batch(parse_tasks(task_lines(n, kind)), log_to, backend, workers=count, on_done=done)
                stats = report.stats
                assert stats is not None and stats.first_ready_s is not None
                steady = stats.wall_s - stats.first_ready_s
                run = BatchRun(backend=backend_name, workers=count, kind=kind, tasks=report.done,
                               errors=report.failed, solved=solved[0], wall_s=stats.wall_s,
                               first_ready_s=stats.first_ready_s, tasks_per_minute=report.tasks_per_minute,
                               steady_tasks_per_minute=report.steady_per_minute,
                               per_task_s=steady / report.done if report.done else float("nan"))
                result.runs.append(run)
                log(f"round {r + 1}: {kind} x{n} on {count} {backend_name} worker(s): {run.tasks_per_minute:.1f} "
                    f"tasks/min ({run.steady_tasks_per_minute:.1f} after start-up, which took "
                    f"{run.first_ready_s:.1f} s), {run.per_task_s * 1000:.2f} ms/task, {run.errors} errors, "
                    f"{run.solved} solved")
    return result


@dataclass
class Load:
    """One load level against one server: clients, requests, errors and latency percentiles."""

    server: str
    route: str
    clients: int
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    requests_per_s: float


@dataclass
class RayServeBenchResult:
    """nativa serve under Ray Serve against a plain `nativa serve`: readiness, load levels, cold starts."""

    model: str
    max_tokens: int
    plain_ready_s: float
    ray_ready_s: float
    loads: list[Load] = field(default_factory=list)
    cold_from_zero_s: dict[str, float] = field(default_factory=dict)

    def added_ms(self, route: str, clients: int) -> float:
        """Ray Serve's p50 minus plain nativa's p50, medians over the alternating rounds."""
        def p50(server: str) -> float:
            return median([x.p50_ms for x in self.loads if (x.server, x.route, x.clients) == (server, route, clients)])
        return p50("ray-serve") - p50("plain")

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON with its derived figures, so the results file can be read without this code."""
        return asdict(self) | {"ray_added_p50_ms": {f"{r} x{c}": self.added_ms(r, c) for r, c in
                                                     sorted({(x.route, x.clients) for x in self.loads})}}


def _drive(url: str, route: str, body: dict[str, Any] | None, clients: int, total: int, server: str) -> Load:
    """`clients` threads share `total` requests to `url + route`; latency per request, requests/s overall."""
    def call(http: httpx.Client) -> int | None:
        try:
            response = http.post(url + route, json=body) if body is not None else http.get(url + route)
        except httpx.HTTPError:
            return None
        return 0 if response.status_code == 200 else None

    found = drive(call, clients, total)
    return Load(server=server, route=route, clients=clients, requests=total, errors=found.errors,
                p50_ms=1000 * percentile(found.latencies, 50), p95_ms=1000 * percentile(found.latencies, 95),
                requests_per_s=len(found.latencies) / found.wall_s if found.wall_s else 0.0)


def _wait_ready(url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise NativaError(f"the plain nativa server exited with {proc.returncode}")
            try:
                if http.get(url + "/readyz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    raise NativaError(f"{url} was not ready within {timeout_s} s")


def run_ray_serve_bench(settings: Settings, *, model: str, max_tokens: int, requests: int, clients: Sequence[int],
                        rounds: int, cold_models: Sequence[str], log: Log) -> RayServeBenchResult:
    """Start both servers on the same model, drive each at every client count, and time a cold start
    from zero replicas for `cold_models`."""
    from nativa.scale.serving import Replicas, deploy, undeploy
    from nativa.serve.app import create_app
    from nativa.serve.config import ServeConfig
    from nativa.serve.runner import free_port

    env = dict(os.environ, NATIVA_HOME=str(settings.home))  # both sides: the model's default threads (all cores)
    plain_port, ray_port = free_port(), free_port()
    began = time.perf_counter()
    plain = subprocess.Popen([sys.executable, "-m", "nativa.serve", "--port", str(plain_port), "--model", model,
                              "--preload", "--max-queue", "256", "--log-level", "warning"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    plain_url, ray_url = f"http://127.0.0.1:{plain_port}", f"http://127.0.0.1:{ray_port}"
    try:
        _wait_ready(plain_url, 180, plain)
        plain_ready = time.perf_counter() - began
        config = ServeConfig(port=ray_port, models=(model,), preload=True, max_queue=256)
        ray_ready = deploy(functools.partial(create_app, None, config=config),
                           Replicas(max_ongoing_requests=257), host="127.0.0.1", port=ray_port)
        _wait_ready(ray_url, 180)
        result = RayServeBenchResult(model=model, max_tokens=max_tokens, plain_ready_s=plain_ready,
                                     ray_ready_s=ray_ready)
        chat = {"model": model, "messages": [{"role": "user", "content": "Count from 1 to 50."}],
                "max_tokens": max_tokens, "temperature": 0.0}
        for url in (plain_url, ray_url):  # warm-up: first decode, connections
            _drive(url, "/v1/chat/completions", chat, 1, 2, "warm-up")
        for r in range(rounds):
            for route, body, counts, total in (("/healthz", None, [1], max(200, requests)),
                                               ("/v1/chat/completions", chat, clients, requests)):
                for count in counts:
                    order = [("plain", plain_url), ("ray-serve", ray_url)]
                    for name, url in order if r % 2 == 0 else order[::-1]:
                        load = _drive(url, route, body, count, max(total, count), name)
                        result.loads.append(load)
                        log(f"round {r + 1} {name} {route} x{count}: p50 {load.p50_ms:.1f} ms, "
                            f"p95 {load.p95_ms:.1f} ms, {load.requests_per_s:.2f} req/s, {load.errors} errors")
        undeploy()
        for name in cold_models:  # a deployment at zero replicas: the first request pays start + load
            port = free_port()
            config = ServeConfig(port=port, models=(name,), preload=True)
            deploy(functools.partial(create_app, None, config=config), Replicas(min_replicas=0),
                   host="127.0.0.1", port=port)
            body = dict(chat, model=name, max_tokens=1)
            began = time.perf_counter()
            first = _drive(f"http://127.0.0.1:{port}", "/v1/chat/completions", body, 1, 1, name)
            result.cold_from_zero_s[name] = time.perf_counter() - began if not first.errors else float("nan")
            log(f"cold start of {name} from zero replicas: {result.cold_from_zero_s[name]:.1f} s")
            undeploy()
        return result
    finally:
        plain.terminate()
        plain.wait(30)
