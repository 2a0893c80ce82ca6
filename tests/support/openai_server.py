"""A stand-in OpenAI-compatible server on loopback that speaks the real wire protocol.

Each test scripts the HTTP statuses it wants (e.g. 429, 500, then 200) so retries and error handling are
exercised over real HTTP by the real `openai` client, not by mocking the client.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse


@dataclass
class ServerScript:
    statuses: list[int] = field(default_factory=list)  # consumed per request; 200 once empty
    reply: str = "def reverse(s):\n    return s[::-1]"
    model: str = "stand-in"
    requests: list[dict[str, Any]] = field(default_factory=list)
    logprob: float | None = None  # when set, each word's logprob, sent when the request asks for logprobs
    refuse_logprobs: bool = False  # answer 400 to a request that asks for logprobs (as some reasoning models do)
    stream_without_logprobs: int | None = None  # the streamed word whose chunk carries no logprobs


def _app(script: ServerScript) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        script.requests.append(body)
        status = script.statuses.pop(0) if script.statuses else 200
        if status != 200:
            headers = {"retry-after-ms": "10"} if status == 429 else {}
            return JSONResponse({"error": {"message": f"scripted {status}", "type": "server_error"}},
                                status_code=status, headers=headers)
        if script.refuse_logprobs and "logprobs" in body:
            return JSONResponse({"error": {"message": "logprobs is not supported with this model",
                                           "type": "invalid_request_error"}}, status_code=400)
        if body.get("model") != script.model:
            return JSONResponse({"error": {"message": f"model {body.get('model')} not found"}}, status_code=404)
        words = script.reply.split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]

        def logprobs(piece: list[str]) -> dict[str, Any] | None:
            if script.logprob is None or not body.get("logprobs"):
                return None
            return {"content": [{"token": p, "logprob": script.logprob, "bytes": None,
                                 "top_logprobs": [{"token": p, "logprob": script.logprob, "bytes": None}]}
                                for p in piece]}

        usage = {"prompt_tokens": 7, "completion_tokens": len(words), "total_tokens": 7 + len(words)}
        if body.get("stream"):
            def events() -> Iterator[str]:
                for i, piece in enumerate(pieces):
                    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": int(time.time()),
                             "model": script.model,
                             "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None,
                                          "logprobs": None if i == script.stream_without_logprobs
                                          else logprobs([piece])}]}
                    yield f"data: {json.dumps(chunk)}\n\n"
                last = {"id": "c1", "object": "chat.completion.chunk", "created": int(time.time()),
                        "model": script.model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                yield f"data: {json.dumps(last)}\n\n"
                if (body.get("stream_options") or {}).get("include_usage"):
                    tail = {"id": "c1", "object": "chat.completion.chunk", "created": int(time.time()),
                            "model": script.model, "choices": [], "usage": usage}
                    yield f"data: {json.dumps(tail)}\n\n"
                yield "data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")
        return {
            "id": "c1", "object": "chat.completion", "created": int(time.time()), "model": script.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": script.reply},
                         "finish_reason": "stop", "logprobs": logprobs(pieces)}],
            "usage": usage,
        }

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StandInServer:
    """Runs the app with uvicorn in a thread; `url` is the OpenAI base URL (ending in /v1)."""

    def __init__(self, script: ServerScript) -> None:
        self.script = script
        self.port = free_port()
        config = uvicorn.Config(_app(script), host="127.0.0.1", port=self.port, log_level="error")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("stand-in server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)
