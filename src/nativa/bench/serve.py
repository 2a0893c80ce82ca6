"""`nativa bench serve`: what serving costs, next to llama-cpp-python's own OpenAI-compatible server.

Both servers are separate processes on 127.0.0.1 running the same GGUF file with the same context size
and threads, greedy, with the same prompt and `max_tokens` (the prompt asks for more than that, so both
stop at the limit and produce equal token counts). nativa runs as shipped: tracing on (JSONL), queue and
per-request spans included. Measured:
- cold start: process start to the first streamed token, lazily loaded and with `--preload`;
- warm: latency p50/p99 and throughput (completion tokens/s over the wall time) at 1, 4 and 16 concurrent
  clients (max(--requests, clients) requests per level), the two servers alternating so noise hits both;
- the host's batching ceiling (`ceiling.py`) for 1 and for `--max-batch` positions, measured by this process
  on the same weights between the levels (both servers idle), so nativa's batched throughput is read
  against what llama.cpp can do here at best.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from rich.table import Table

from nativa.bench._load import drive
from nativa.bench._stats import median, percentile, ratio
from nativa.bench.ceiling import decode_ceiling
from nativa.config import Settings
from nativa.errors import ModelNotFoundError, NativaError
from nativa.models.local import LocalModel
from nativa.models.registry import resolve_model

PROMPT = [{"role": "user", "content": "Write a long, detailed story about a lighthouse keeper and a storm. "
                                      "Use at least ten paragraphs."}]
Log = Callable[[str], None] | None


@dataclass
class ColdStart:
    """Cold starts of one mode: time to ready and to the first token, per run."""

    mode: str
    ready_s: list[float] = field(default_factory=list)
    first_token_s: list[float] = field(default_factory=list)

    @property
    def first_token_median_s(self) -> float:
        """Median time to the first token from a cold start."""
        return median(self.first_token_s)


@dataclass
class Level:
    """One concurrency level against one server: requests, failures, latency and throughput."""

    server: str
    clients: int
    requests: int
    ok: int
    errors: int
    p50_s: float
    p99_s: float
    wall_s: float
    completion_tokens: int
    ceiling_tok_s: float | None = None  # the host's ceiling for this level's batch, measured around it

    @property
    def of_ceiling(self) -> float:
        """Tokens/s over the host's ceiling measured around this level (NaN when it was not measured)."""
        return ratio(self.tokens_per_s, self.ceiling_tok_s) if self.ceiling_tok_s else float("nan")

    @property
    def tokens_per_s(self) -> float:
        """Completion tokens per second of wall time at this level."""
        return self.completion_tokens / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def requests_per_s(self) -> float:
        """Successful requests per second of wall time at this level."""
        return self.ok / self.wall_s if self.wall_s > 0 else float("nan")


@dataclass
class ServeBenchResult:
    """nativa serve against llama.cpp's server on the same model and threads: cold starts, load levels,
    and the host's decode ceilings."""

    model: str
    path: str
    n_ctx: int
    threads: int
    batch_threads: int
    max_tokens: int
    cold: list[ColdStart] = field(default_factory=list)
    levels: list[Level] = field(default_factory=list)
    max_batch: int = 1
    ceilings: dict[int, list[float]] = field(default_factory=dict)  # positions per decode call -> tok/s

    def ceiling(self, n: int) -> float:
        """Median tokens/s of bare decode calls of `n` positions."""
        return median(self.ceilings.get(n, []))

    def pooled(self, server: str, clients: int) -> float:
        """One server's tokens/s at a client count over all its rounds pooled (tokens over wall time)."""
        rows = [lv for lv in self.levels if lv.server == server and lv.clients == clients]
        wall = sum(lv.wall_s for lv in rows)
        return sum(lv.completion_tokens for lv in rows) / wall if wall else float("nan")

    def of_ceiling(self, clients: int) -> float:
        """nativa's tokens/s at this client count over the ceiling for the sequences it could batch, the
        median of the rounds' ratios (each round against the ceiling measured just before and after it)."""
        return median([lv.of_ceiling for lv in self.levels if lv.server == "nativa" and lv.clients == clients
                       and lv.ceiling_tok_s])

    def ratio_at(self, clients: int) -> float:
        """nativa tokens/s over llama.cpp server tokens/s at this client count (all rounds pooled)."""
        return ratio(self.pooled("nativa", clients), self.pooled("llama.cpp", clients))

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON with its derived figures, so the results file can be read without this code."""
        return {
            "model": self.model, "path": self.path, "n_ctx": self.n_ctx, "threads": self.threads,
            "batch_threads": self.batch_threads, "max_tokens": self.max_tokens,
            "cold": [asdict(c) | {"first_token_median_s": c.first_token_median_s} for c in self.cold],
            "levels": [asdict(lv) | {"tokens_per_s": lv.tokens_per_s, "requests_per_s": lv.requests_per_s,
                                     "of_ceiling": lv.of_ceiling} for lv in self.levels],
            "throughput_ratio": {str(c): self.ratio_at(c) for c in sorted({lv.clients for lv in self.levels})},
            "max_batch": self.max_batch,
            "ceiling_tok_s": {str(n): self.ceiling(n) for n in sorted(self.ceilings)},
            "of_ceiling": {str(c): self.of_ceiling(c) for c in sorted({lv.clients for lv in self.levels})},
        }


class _Server:
    """A server process on loopback, stopped (SIGTERM, then SIGKILL) when done."""

    def __init__(self, name: str, argv: list[str], port: int, ready_path: str, env: dict[str, str]) -> None:
        self.name = name
        self.port = port
        self.ready_path = ready_path
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._stderr: list[bytes] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr = (self._stderr + [line])[-40:]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float = 120.0) -> float:
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    tail = b"".join(self._stderr).decode(errors="replace")[-2000:]
                    raise NativaError(f"{self.name} server exited with {self.proc.returncode}:\n{tail}")
                try:
                    if client.get(self.url + self.ready_path).status_code == 200:
                        return time.perf_counter() - self.started
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)
        raise NativaError(f"{self.name} server did not become ready within {timeout_s} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _port() -> int:
    from nativa.serve.runner import free_port

    return free_port()


def _body(model: str, max_tokens: int, stream: bool = False) -> dict[str, Any]:
    return {"model": model, "messages": PROMPT, "max_tokens": max_tokens, "temperature": 0.0, "seed": 0,
            "stream": stream}


def _first_token_s(server: _Server, model: str, max_tokens: int) -> float:
    """Seconds from the server's process start to the first streamed content token."""
    with httpx.Client(timeout=300.0) as client, client.stream(
            "POST", server.url + "/v1/chat/completions", json=_body(model, max_tokens, stream=True)) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line[6:]).get("choices") or [{}]
            if (choices[0].get("delta") or {}).get("content"):
                return time.perf_counter() - server.started
    raise NativaError(f"{server.name} streamed no content")


def _load(server: _Server, model: str, clients: int, total: int, max_tokens: int) -> Level:
    """`clients` threads share `total` requests; latency per request, throughput over the whole wall."""
    def call(http: httpx.Client) -> int | None:
        try:
            response = http.post(server.url + "/v1/chat/completions", json=_body(model, max_tokens))
            return int(response.json()["usage"]["completion_tokens"]) if response.status_code == 200 else None
        except (httpx.HTTPError, KeyError, ValueError):
            return None

    found = drive(call, clients, total)
    return Level(server=server.name, clients=clients, requests=total, ok=len(found.latencies), errors=found.errors,
                 p50_s=percentile(found.latencies, 50), p99_s=percentile(found.latencies, 99), wall_s=found.wall_s,
                 completion_tokens=found.tokens)


def run_serve_bench(settings: Settings, *, model: str | None, requests: int, clients: Sequence[int],
                    max_tokens: int, cold_runs: int, rounds: int, peer: bool, log: Log = None,
                    max_batch: int | None = None) -> ServeBenchResult:
    """Cold starts, then every client count against nativa serve (and llama.cpp's server when `peer`),
    alternating over `rounds`; it needs an embedded model."""
    say = log or (lambda _msg: None)
    name = model or "small"
    chat_model = resolve_model(name, settings)
    if not isinstance(chat_model, LocalModel):
        raise ModelNotFoundError(f"bench serve needs an embedded model (small, large or a .gguf), got '{name}'")
    chat_model.load()  # assembles and verifies the weights once, outside any timing
    assert chat_model.path is not None
    threads = chat_model.n_threads
    batch_threads = int(getattr(chat_model._get().llm, "n_threads_batch", threads))  # mirror what nativa runs
    width = max_batch or settings.max_batch
    result = ServeBenchResult(model=name, path=str(chat_model.path), n_ctx=settings.n_ctx, threads=threads,
                              batch_threads=batch_threads, max_tokens=max_tokens, max_batch=width)
    # every batched sequence gets 1024 KV cells (the prompt and max_tokens need far fewer), so that
    # --max-batch 16 costs 16 x 12 MiB rather than 16 x n_ctx cells of the small model
    env = dict(os.environ, NATIVA_HOME=str(settings.home), NATIVA_MAX_BATCH=str(width),
               NATIVA_BATCH_N_CTX=str(width * 1024))
    llm = chat_model._get().llm

    def measure_ceiling() -> dict[int, float]:
        measured = {n: decode_ceiling(llm, n) for n in sorted({1, min(4, width), width})}
        for n, tok_s in measured.items():
            result.ceilings.setdefault(n, []).append(tok_s)
        return measured

    def nativa(preload: bool) -> _Server:
        port = _port()
        argv = [sys.executable, "-m", "nativa.serve", "--port", str(port), "--model", name, "--max-queue", "256",
                "--log-level", "warning", *(["--preload"] if preload else [])]
        return _Server("nativa", argv, port, "/healthz", env)

    def llama() -> _Server:
        port = _port()
        argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(chat_model.path), "--host", "127.0.0.1",
                "--port", str(port), "--n_ctx", str(settings.n_ctx), "--n_threads", str(threads),
                "--n_threads_batch", str(batch_threads), "--n_batch", "512", "--verbose", "False",
                "--interrupt_requests", "False"]
        return _Server("llama.cpp", argv, port, "/v1/models", env)

    starters: list[tuple[str, Callable[[], _Server]]] = [("nativa lazy", lambda: nativa(False)),
                                                         ("nativa preload", lambda: nativa(True))]
    if peer:
        starters.append(("llama.cpp server", llama))
    for mode, start in starters:
        cold = ColdStart(mode)
        for run in range(cold_runs):
            server = start()
            try:
                cold.ready_s.append(server.wait_ready())
                cold.first_token_s.append(_first_token_s(server, name, 4))
            finally:
                server.stop()
            say(f"cold start {mode} #{run + 1}: ready {cold.ready_s[-1]:.2f} s, "
                f"first token {cold.first_token_s[-1]:.2f} s")
        if cold_runs:
            result.cold.append(cold)

    servers = [nativa(True)] + ([llama()] if peer else [])
    try:
        for server in servers:
            server.wait_ready()
            _load(server, name, 1, 1, max_tokens)  # warm-up: first decode, caches, connections
        for count in clients:
            total = max(requests, count)
            for r in range(rounds):
                order = servers if r % 2 == 0 else list(reversed(servers))
                for server in order:
                    before = measure_ceiling()  # both servers idle
                    level = _load(server, name, count, total, max_tokens)
                    after = measure_ceiling()
                    batch = min(count, width) if server.name == "nativa" else 1
                    level.ceiling_tok_s = (before[batch] + after[batch]) / 2 if batch in before else None
                    result.levels.append(level)
                    say(f"{server.name} x{count}: p50 {level.p50_s:.2f} s, p99 {level.p99_s:.2f} s, "
                        f"{level.tokens_per_s:.1f} tok/s, {level.errors} errors")
    finally:
        for server in servers:
            server.stop()
    return result


def render(result: ServeBenchResult) -> Table:
    """The results as the table `nativa bench serve` prints."""
    ceilings = ", ".join(f"{n}: {result.ceiling(n):.1f}" for n in sorted(result.ceilings))
    table = Table(title=f"nativa serve vs llama.cpp server: {result.model}, max_tokens {result.max_tokens}, "
                        f"{result.threads} threads ({result.batch_threads} for prompts), --max-batch "
                        f"{result.max_batch}; ceiling tok/s by positions per decode: {ceilings or 'not measured'}")
    for col in ("what", "server", "p50 s", "p99 s", "tok/s", "req/s", "errors", "ratio", "of ceiling"):
        table.add_column(col)
    for cold in result.cold:
        table.add_row("cold start to 1st token", cold.mode, f"{cold.first_token_median_s:.2f}", "", "", "", "", "",
                      "")
    for lv in result.levels:
        mine = lv.server == "nativa"
        table.add_row(f"{lv.clients} clients, {lv.requests} req", lv.server, f"{lv.p50_s:.2f}", f"{lv.p99_s:.2f}",
                      f"{lv.tokens_per_s:.1f}", f"{lv.requests_per_s:.2f}", str(lv.errors),
                      f"{result.ratio_at(lv.clients):.2f}" if mine else "",
                      f"{lv.of_ceiling:.2f}" if lv.ceiling_tok_s else "")
    return table
