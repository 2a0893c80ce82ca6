"""Test doubles for the server: a model that echoes forever (optionally slow, gated or failing) and counts
loads and cancellations, and a sandbox that judges code without running it."""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from support.embedder import WordHashEmbedder

from nativa.config import Settings
from nativa.errors import ModelNotFoundError
from nativa.memory import open_memory
from nativa.models.base import (
    Completion,
    Delta,
    GenerationOptions,
    MessagesLike,
    TokenLogprob,
    as_messages,
    check_n,
    collect,
    with_seed,
)
from nativa.sandbox.result import RunResult
from nativa.serve import ServeConfig, create_app


class EchoModel:
    """Answers 'echo <last message>' one word per token; `delay_s` per token, `gate` to hold the answer."""

    provider = "test"
    remote = False

    def __init__(self, name: str = "small", *, delay_s: float = 0.0, gate: threading.Event | None = None,
                 reply: str | None = None, fail: BaseException | None = None) -> None:
        self.name = name
        self.delay_s = delay_s
        self.gate = gate
        self.reply = reply
        self.fail = fail
        self.lock = threading.Lock()
        self.calls = 0
        self.started = threading.Event()
        self.cancelled = threading.Event()
        self.finished = 0
        self.tokens = 0
        self.loads = 0
        self.options: list[GenerationOptions] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Iterator[Delta]:
        msgs = as_messages(messages)
        opts = options or GenerationOptions()
        with self.lock:
            self.calls += 1
            self.options.append(opts)
        self.started.set()
        if self.fail is not None:
            raise self.fail
        if self.gate is not None:
            self.gate.wait(30)
        words = (self.reply or f"echo {msgs[-1].content}").split()
        finish = "length" if len(words) > opts.max_tokens else "stop"
        words = words[: opts.max_tokens]
        started = time.perf_counter()
        try:
            for i, word in enumerate(words):
                if self.delay_s:
                    time.sleep(self.delay_s)
                with self.lock:
                    self.tokens += 1
                yield Delta(word if i == 0 else " " + word)
        except GeneratorExit:
            self.cancelled.set()
            raise
        with self.lock:
            self.finished += 1
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        # asked for logprobs: each word at 1/2, its runner-up "zz" at 1/4 (a model that gives them)
        logprobs = [TokenLogprob(p, math.log(0.5), ((p, math.log(0.5)), ("zz", math.log(0.25))))
                    for p in pieces] if opts.logprobs else None
        yield Delta("", Completion(" ".join(words), finish, sum(len(m.content.split()) for m in msgs), len(words),
                                   time.perf_counter() - started, self.name, 0.0, logprobs=logprobs))

    def complete(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Completion:
        return collect(self.stream(messages, options))

    def complete_many(self, messages: MessagesLike, options: GenerationOptions | None = None,
                      n: int = 1) -> list[Completion]:
        opts = options or GenerationOptions()
        return [self.complete(messages, with_seed(opts, i)) for i in range(check_n(n))]


class LoadingEchoModel(EchoModel):
    """An `EchoModel` with a slow `load()` (like LocalModel), so concurrent first loads would overlap."""

    def __init__(self, name: str = "small", *, load_s: float = 0.3, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.load_s = load_s

    @property
    def loaded(self) -> bool:
        return self.loads > 0

    def load(self) -> None:
        with self.lock:
            self.loads += 1
        time.sleep(self.load_s)


class FakeSandbox:
    """Passes code that contains `good`, fails the rest with an AssertionError (no process is started).

    It answers the agent's harness as the real one would: a report carrying the run's nonce, with one
    caller test that passed or failed."""

    def __init__(self, good: str = "return a + b") -> None:
        self.good = good
        self.runs = 0

    def run(self, code: str, *, files: dict[str, Any] | None = None, **_: Any) -> RunResult:
        self.runs += 1
        candidate = str((files or {}).get("solution.py", code))
        ok = self.good in candidate
        nonce = re.search(r"\"nonce\": '([0-9a-f]+)'", code)
        report = {"nonce": nonce.group(1) if nonce else "", "exited": None, "setup_errors": [],
                  "tests": [{"kind": "user", "label": "assert add(2, 3) == 5", "ok": ok,
                             **({} if ok else {"error": "assert add(2, 3) == 5: left is 6, right is 5"})}]}
        files_out = {"__nativa_report.json": json.dumps(report).encode()}
        if ok:
            return RunResult(ok=True, exit_code=0, stdout="ok\n", tier="fake", files_out=files_out)
        return RunResult(ok=False, exit_code=1, error_type="AssertionError", error_message="add(2, 3) == 6",
                         traceback="AssertionError: add(2, 3) == 6", tier="fake", files_out=files_out)


def make_app(settings: Settings, model: Any, *, sandbox: Any = None, **config: Any) -> FastAPI:
    """An app serving `model` under its name; unknown names raise like the registry does."""
    def factory(name: str) -> Any:
        if name != model.name:
            raise ModelNotFoundError(f"unknown model '{name}'")
        return model

    cfg = ServeConfig(models=(model.name,), **config)
    app = create_app(settings, config=cfg, model_factory=factory,
                     sandbox_factory=(lambda: sandbox) if sandbox is not None else None)
    # sessions and memories in a real SQLite file under the test's home, embedded by the test embedder
    app.state.nativa_memory = open_memory(settings, embedder=WordHashEmbedder())
    return app


def fenced(code: str) -> str:
    return f"Here you go:\n```python\n{code}\n```"


class ServerOn:
    """Any ASGI app on a real uvicorn on loopback, for stand-in services: `with ServerOn(app) as url:`."""

    def __init__(self, app: Any) -> None:
        from nativa.serve.runner import ServerThread

        self.server = ServerThread(app)

    def __enter__(self) -> str:
        self.server.start()
        return self.server.url

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
