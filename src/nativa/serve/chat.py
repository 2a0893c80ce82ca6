"""`POST /v1/chat/completions` and `GET /v1/models`: the OpenAI-compatible surface.

Concurrent requests to an embedded model join its running batch (see `scheduler.py`): up to `--max-batch`
run at once, each as one sequence of the same decode steps.

A stream answers with its status only once the first token (or the failure) is known, so a full queue,
a bad schema or a timeout while waiting still reach the client as 429/400/504 rather than as an error
buried inside a 200 stream; after that, failures arrive as an `{"error": ...}` event, which the OpenAI
client raises as an exception.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from nativa import tracing
from nativa.models.base import Completion, Message, TokenLogprob
from nativa.serve import memory, tasks
from nativa.serve.console.board import chat_result
from nativa.serve.jobs import Emit, JobControl, RunningJob
from nativa.serve.schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ChoiceLogprobs,
    ModelCard,
    ModelList,
    TokenLogprobOut,
    TopLogprob,
    Usage,
)
from nativa.serve.state import SSE_HEADERS, ServerState, get_state, sse, stream_error

ROUTE = "/v1/chat/completions"
router = APIRouter()

_STREAM_DOC = {"text/event-stream": {"schema": {"type": "string",
                                                 "description": "chat.completion.chunk events, then [DONE]"}}}


@router.get("/v1/models", response_model=ModelList, summary="Models served here")
async def list_models(request: Request) -> ModelList:
    """Every model this server serves, and whether each is loaded yet."""
    state = get_state(request)
    return ModelList(data=[ModelCard(id=name, loaded=slot.loaded) for name, slot in state.slots.items()])


@router.post("/v1/chat/completions", response_model=ChatCompletion, summary="OpenAI-compatible chat completion",
             responses={200: {"content": _STREAM_DOC}})
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
    """Answer chat messages; `stream: true` sends server-sent events like OpenAI's API."""
    state = get_state(request)
    slot = state.slot(body.model)
    settings = state.settings
    messages = [Message(m.role, m.text()) for m in body.messages]
    max_tokens = body.max_completion_tokens or body.max_tokens or settings.max_tokens
    options = tasks.options_for(max_tokens=max_tokens,
                                temperature=settings.temperature if body.temperature is None else body.temperature,
                                stop=body.stops(), json_schema=body.json_schema(),
                                seed=settings.seed if body.seed is None else body.seed,
                                logprobs=bool(body.logprobs))
    stream = body.stream
    kept = memory.chat_session(request, body.session, messages) if body.session else None  # 404 before work

    def work(control: JobControl, emit: Emit) -> Completion:
        model = slot.get()
        sent = kept.messages(model, max_tokens) if kept else messages
        asked = next((m.content for m in reversed(messages) if m.role == "user"), "")
        with state.board.track("chat", asked, body.session) as live:  # the console's runs page
            completion = tasks.chat(model, sent, options, settings, control, emit if stream else None)
            live.finish(chat_result(completion))
        if kept:
            kept.record(model, completion.text)
        return completion

    job: RunningJob[Completion] | None = None
    try:
        job = await state.start(slot, request, work, ROUTE, executor=state.batching.executor(slot))
        ident = "chatcmpl-" + secrets.token_hex(12)
        created = int(time.time())
        if not stream:
            completion = await job.result()
            top = body.top_logprobs or 0
            return _completion(ident, created, body.model, completion, top if body.logprobs else None)
        first = await job.first_event()
        job.stop_watching()
    except Exception as exc:
        state.count_outcome(exc, ROUTE, job)
        raise
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunks = _chunks(state, job, first, ident, created, body.model, include_usage)
    return StreamingResponse(chunks, media_type="text/event-stream", headers=SSE_HEADERS)


def _completion(ident: str, created: int, model: str, c: Completion, top: int | None) -> ChatCompletion:
    """`top`: alternatives per token when logprobs were asked for, None when they were not."""
    logprobs = _logprobs(c.logprobs, top) if top is not None and c.logprobs is not None else None
    return ChatCompletion(
        id=ident, created=created, model=model,
        choices=[Choice(message=AssistantMessage(content=c.text), finish_reason=c.finish_reason,
                        logprobs=logprobs)],
        usage=Usage(prompt_tokens=c.input_tokens, completion_tokens=c.output_tokens,
                    total_tokens=c.input_tokens + c.output_tokens),
        trace_id=tracing.current_trace_id(),
    )


def _logprobs(tokens: list[TokenLogprob], top: int) -> ChoiceLogprobs:
    """The model's token log-probabilities in OpenAI's shape, `top` alternatives each (as many as it kept)."""
    def pair(text: str, logprob: float) -> dict[str, Any]:
        return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}

    return ChoiceLogprobs(content=[
        TokenLogprobOut(**pair(t.text, t.logprob), top_logprobs=[TopLogprob(**pair(*alt)) for alt in t.top[:top]])
        for t in tokens])


async def _chunks(state: ServerState, job: RunningJob[Completion], first: Any, ident: str, created: int,
                  model: str, include_usage: bool) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]})

    yield chunk({"role": "assistant", "content": ""})
    try:
        item = first
        if item[0] != "done":
            if item[0] == "delta":
                yield chunk({"content": item[1]})
            async for item in job.rest():
                if item[0] == "delta":
                    yield chunk({"content": item[1]})
        completion: Completion = item[1]
        yield chunk({}, completion.finish_reason)
        if include_usage:
            usage = Usage(prompt_tokens=completion.input_tokens, completion_tokens=completion.output_tokens,
                          total_tokens=completion.input_tokens + completion.output_tokens)
            yield sse({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [], "usage": usage.model_dump(), "trace_id": tracing.current_trace_id()})
    except Exception as exc:  # noqa: BLE001 - after the headers, an error can only be an event
        state.count_outcome(exc, ROUTE, job)
        yield sse(stream_error(exc, state.model_names, ROUTE))
    yield b"data: [DONE]\n\n"

