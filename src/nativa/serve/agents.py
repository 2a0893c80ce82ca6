"""`POST /v1/code` (the self-correcting code agent) and `POST /v1/run` (the tool agent).

Synchronous by default: the response is the agent's whole result, trace id included. With `stream: true`
each attempt (code) or step (tools) is a server-sent event as it happens, then `event: result`, then
`[DONE]`. An agent run holds the model's slot for its whole run: its model calls are serialised anyway,
and releasing the slot between attempts would let a queue of chats starve a half-finished run.

With `review` (see review.py) a run may pause before code a person must approve: the answer is then 202
with the paused run's record (streamed: `event: awaiting_approval`), and runs.py resumes it. The work
functions below serve both the first request and the resume.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from nativa.memory.conversation import AgentSession
from nativa.models.base import ChatModel
from nativa.review.context import sql_backend_of
from nativa.serve import memory, review, tasks
from nativa.serve.errors import ApiError
from nativa.serve.jobs import Emit, JobControl, RunningJob
from nativa.serve.schemas import CodeRequest, CodeResponse, PausedRun, RunRequest, RunResponse
from nativa.serve.slots import ModelSlot
from nativa.serve.state import SSE_HEADERS, ServerState, get_state, sse, stream_error
from nativa.serve.tasks import Resume, TaskFn

Kept = Callable[[ChatModel], AgentSession] | None  # the request's memory session, bound to the model later

router = APIRouter()
_STREAM_DOC = {200: {"content": {"text/event-stream": {"schema": {
    "type": "string", "description": "attempt/step events, then `event: result`, then [DONE]"}}}},
    202: {"model": PausedRun, "description": "paused: a person must approve the code first (POST "
                                             "/v1/runs/{run_id}/approve or /reject)"}}


@router.post("/v1/code", response_model=CodeResponse, summary="Write or repair Python until it passes",
             responses=_STREAM_DOC)
async def code(body: CodeRequest, request: Request) -> Any:
    """Like `nativa code`: `task` to write new code, `code` to repair; `tests` run in the sandbox."""
    state = get_state(request)
    slot = state.slot(body.model)
    kept = memory.agent_session(request, body.session) if body.session else None  # 404 before any work
    plan = review.plan(request, body.review, granted=False, session=body.session)
    saved = body.model_dump(mode="json", exclude={"stream"})
    saved["max_tokens"] = body.max_tokens or state.settings.max_tokens
    work = code_work(state, slot, saved, kept, plan, stream=body.stream)
    return await _respond(state, slot, request, work, "/v1/code", body.stream)


def code_work(state: ServerState, slot: ModelSlot, saved: dict[str, Any], kept: Kept,
              plan: review.ReviewPlan | None, *, stream: bool = False, resume: Resume | None = None) -> TaskFn:
    """The code agent's job for a request (`saved`: its body as JSON), or for the resume of a paused one."""

    def work(control: JobControl, emit: Emit) -> Any:
        sandbox = state.sandbox()
        model = slot.get()
        recorder = kept(model) if kept else None
        with state.board.track("code", saved["task"] or "repair the given code", saved.get("session")) as live:
            result = tasks.code_result(  # on the console's runs board while it runs
                model, sandbox, task=saved["task"], code_to_fix=saved["code"], tests=saved["tests"],
                context=recorder.history() if recorder and resume is None else None,
                max_attempts=saved["max_attempts"], candidates=saved["candidates"], max_tokens=saved["max_tokens"],
                timeout_s=saved["timeout_s"], settings=state.settings, control=control,
                emit=live.tee(emit if stream else None), review=plan.gate if plan else None, resume=resume,
                local_only=bool(saved.get("local_only")) or _marked(recorder))
            if result.pending is not None and plan is not None:
                live.pause()
                return review.pause(plan, "code", saved, result.pending, result.trace_id)
            out = result.to_dict()
            live.finish(out)
        if recorder:
            recorder.record("code", saved["task"] or "repair the given code", out)
        return out

    return work


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
    granted = bool(body.allow_hosts or state.config.run_db)  # past the sandbox: hosts, a real database
    plan = review.plan(request, body.review, granted=granted, session=body.session,
                       allow_hosts=tuple(body.allow_hosts), sql_backend=sql_backend_of(state.config.run_db))
    saved = body.model_dump(mode="json", exclude={"stream"}) | {"sql_backend": sql_backend_of(state.config.run_db)}
    return await _respond(state, slot, request, run_work(state, slot, saved, kept, plan, stream=body.stream),
                          "/v1/run", body.stream)


def run_work(state: ServerState, slot: ModelSlot, saved: dict[str, Any], kept: Kept,
             plan: review.ReviewPlan | None, *, stream: bool = False, resume: Resume | None = None) -> TaskFn:
    """The tool agent's job for a request, or for the resume of a paused one."""
    # A resumed run reaches only hosts this server still allows (its list may have changed since the pause).
    hosts = [h for h in saved["allow_hosts"] if h in state.config.run_allow_hosts]

    def work(control: JobControl, emit: Emit) -> Any:
        model = slot.get()
        recorder = kept(model) if kept else None
        question = recorder.task_text(saved["question"]) if recorder and resume is None else saved["question"]
        with state.board.track("run", saved["question"], saved.get("session")) as live:
            result = tasks.tools_result(model, question=question, max_steps=saved["max_steps"], db=state.config.run_db,
                                        allow_hosts=hosts, settings=state.settings, control=control,
                                        emit=live.tee(emit if stream else None), review=plan.gate if plan else None,
                                        resume=resume, local_only=bool(saved.get("local_only")) or _marked(recorder))
            pending = getattr(result, "pending", None)  # a tool agent without review has no pauses
            if pending is not None and plan is not None:
                live.pause()
                return review.pause(plan, "run", saved, pending, result.trace_id)
            out = result.to_dict()
            live.finish(out)
        if recorder:
            recorder.record("run", saved["question"], out)
        return out

    return work


def _marked(recorder: AgentSession | None) -> bool:
    """A session marked local-only (`metadata.local_only`) keeps each of its runs off remote models."""
    return bool(recorder is not None and (recorder.session.metadata or {}).get("local_only"))


async def _respond(state: ServerState, slot: ModelSlot, request: Request, work: Any, route: str,
                   stream: bool) -> Any:
    job: RunningJob[dict[str, Any]] | None = None
    try:
        job = await state.start(slot, request, work, route)
        if not stream:
            outcome = await job.result()
            return JSONResponse(outcome.body(), status_code=202) if isinstance(outcome, review.Paused) else outcome
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
            elif item[0] == "done" and isinstance(item[1], review.Paused):
                yield sse(item[1].body(), event="awaiting_approval")
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
