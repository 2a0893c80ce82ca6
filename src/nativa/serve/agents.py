"""`POST /v1/code` (the self-correcting code agent) and `POST /v1/run` (the tool agent).

Synchronous by default: the response is the agent's whole result, trace id included. With `stream: true`
each attempt (code) or step (tools) is a server-sent event as it happens, then `event: result`, then
`[DONE]`. An agent run holds the model's slot for its whole run: its model calls are serialised anyway,
and releasing the slot between attempts would let a queue of chats starve a half-finished run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from nativa.serve import memory, tasks
from nativa.serve.errors import ApiError
from nativa.serve.jobs import Emit, JobControl, RunningJob
from nativa.serve.schemas import CodeRequest, CodeResponse, RunRequest, RunResponse
from nativa.serve.slots import ModelSlot
from nativa.serve.state import SSE_HEADERS, ServerState, get_state, sse, stream_error

router = APIRouter()
_STREAM_DOC = {200: {"content": {"text/event-stream": {"schema": {
    "type": "string", "description": "attempt/step events, then `event: result`, then [DONE]"}}}}}


@router.post("/v1/code", response_model=CodeResponse, summary="Write or repair Python until it passes",
             responses=_STREAM_DOC)
async def code(body: CodeRequest, request: Request) -> Any:
    """Like `nativa code`: `task` to write new code, `code` to repair; `tests` run in the sandbox."""
    state = get_state(request)
    slot = state.slot(body.model)
    settings = state.settings
    max_tokens = body.max_tokens or settings.max_tokens
    kept = memory.agent_session(request, body.session) if body.session else None  # 404 before any work

    def work(control: JobControl, emit: Emit) -> dict[str, Any]:
        sandbox = state.sandbox()
        model = slot.get()
        recorder = kept(model) if kept else None
        asked = body.task or "repair the given code"
        result = tasks.code(model, sandbox, task=body.task, context=recorder.history() if recorder else None,
                            code_to_fix=body.code, tests=body.tests, max_attempts=body.max_attempts,
                            candidates=body.candidates, max_tokens=max_tokens, timeout_s=body.timeout_s,
                            settings=settings, control=control, emit=emit if body.stream else None)
        if recorder:
            recorder.record("code", asked, result)
        return result

    return await _respond(state, slot, request, work, "/v1/code", body.stream)


@router.post("/v1/run", response_model=RunResponse, summary="Answer a question with read-only tools",
             responses=_STREAM_DOC)
async def run(body: RunRequest, request: Request) -> Any:
    """The tool agent: the model picks tools (SQL read-only, HTTP to allowed hosts, Python in the sandbox)."""
    state = get_state(request)
    allowed = state.config.run_allow_hosts
    refused = [h for h in body.allow_hosts if h not in allowed]
    if refused:
        raise ApiError(422, f"allow_hosts: {', '.join(refused)} not allowed by this server; valid: "
                            f"{', '.join(allowed) or 'none (the server allows no hosts)'}", param="allow_hosts")
    slot = state.slot(body.model)
    kept = memory.agent_session(request, body.session) if body.session else None

    def work(control: JobControl, emit: Emit) -> dict[str, Any]:
        model = slot.get()
        recorder = kept(model) if kept else None
        result = tasks.run_tools(model, question=recorder.task_text(body.question) if recorder else body.question,
                                 max_steps=body.max_steps, db=state.config.run_db, allow_hosts=body.allow_hosts,
                                 settings=state.settings, control=control, emit=emit if body.stream else None)
        if recorder:
            recorder.record("run", body.question, result)
        return result

    return await _respond(state, slot, request, work, "/v1/run", body.stream)


async def _respond(state: ServerState, slot: ModelSlot, request: Request, work: Any, route: str,
                   stream: bool) -> Any:
    job: RunningJob[dict[str, Any]] | None = None
    try:
        job = await state.start(slot, request, work, route)
        if not stream:
            return await job.result()
        first = await job.first_event()
        job.stop_watching()
    except Exception as exc:
        state.count_outcome(exc, route, job)
        raise
    return StreamingResponse(_events(state, job, first, route), media_type="text/event-stream",
                             headers=SSE_HEADERS)


async def _events(state: ServerState, job: RunningJob[dict[str, Any]], first: Any,
                  route: str) -> AsyncIterator[bytes]:
    try:
        async for item in _items(job, first):
            if item[0] == "event":
                yield sse(item[2], event=item[1])
            elif item[0] == "step":
                yield sse(item[1], event="step")
            elif item[0] == "done":
                yield sse(item[1], event="result")
    except Exception as exc:  # noqa: BLE001 - after the headers, an error can only be an event
        state.count_outcome(exc, route, job)
        yield sse(stream_error(exc, state.model_names, route), event="error")
    yield b"data: [DONE]\n\n"


async def _items(job: RunningJob[dict[str, Any]], first: Any) -> AsyncIterator[Any]:
    yield first
    if first[0] != "done":
        async for item in job.rest():
            yield item
