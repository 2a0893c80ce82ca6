"""`/v1/runs`: runs paused for a person's approval, and the answers that resume them.

    GET  /v1/runs                      this key's runs awaiting approval
    GET  /v1/runs/{id}                 one run: what it asks about, its status, and its result once done
    POST /v1/runs/{id}/approve         {"scope": "once|session|always", "code_hash"?}: run it, go on
    POST /v1/runs/{id}/reject          {"reason", "code_hash"?}: the model reads why and writes another version

Approving claims the run in the review database before anything runs (`PendingRuns.claim`, one conditional
UPDATE): a second approve, a retry or a concurrent approve, on this server or another one on the same file,
gets 409 and runs nothing. The claimed run resumes from its JSON checkpoint on this server, through the
model's queue like any agent request: the approved code runs once, the loop goes on, and the answer is the
run's record with its result (200), or 202 again when a later candidate needs a person. If the resumed run
fails or its client leaves, the run is `failed` and is never run again. `PausedRuns` is the same as a small
typed API, for the browser console: `list_pending()`, `get(id)`, and `await approve(id, scope, code_hash,
who=)` / `await reject(id, reason, code_hash, who=)`, which claim and resume the run and return its record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from nativa.errors import PendingRunConflictError, PendingRunExpiredError, PendingRunNotFoundError
from nativa.review.approvals import Answer, Choice
from nativa.review.pending import PendingRun
from nativa.serve import agents, memory, review
from nativa.serve.errors import ApiError
from nativa.serve.jobs import Emit, JobControl
from nativa.serve.memory import owner_of
from nativa.serve.schemas import ApproveBody, PausedRun, PausedRunList, RejectBody
from nativa.serve.state import get_state

router = APIRouter()
_RUN_ID = PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
_ERRORS: dict[int | str, dict[str, Any]] = {
    202: {"model": PausedRun, "description": "resumed, then paused again before other code"},
    404: {"description": "no such run for this key"},
    409: {"description": "the run is not awaiting an answer (already approved, rejected, running or done)"},
    410: {"description": "the run expired without an answer; nothing ran"}}
_SCOPE_CHOICE: dict[str, Choice] = {"once": "approve", "session": "session", "always": "always"}


@contextmanager
def _mapped() -> Iterator[None]:
    """The pending-run store's refusals as HTTP answers."""
    try:
        yield
    except PendingRunNotFoundError as exc:
        raise ApiError(404, str(exc), param="run_id", code="run_not_found") from None
    except PendingRunExpiredError as exc:
        raise ApiError(410, str(exc), param="run_id", code="run_expired") from None
    except PendingRunConflictError as exc:
        raise ApiError(409, str(exc), param="run_id", code="run_not_awaiting_approval") from None


class PausedRuns:
    """The paused runs as the request's API key sees them; `approve` and `reject` resume a run here."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.owner = owner_of(request)
        self.runs = review.pending_runs(request)

    def list_pending(self) -> list[PendingRun]:
        """This key's runs awaiting a person, oldest first."""
        return self.runs.list_pending(self.owner)

    def get(self, run_id: str) -> PendingRun:
        """One of this key's runs in any status; `ApiError` 404 when there is none."""
        found = self.runs.get(run_id, self.owner)
        if found is None:
            raise ApiError(404, f"no paused run {run_id!r} for this key; GET /v1/runs lists them", param="run_id",
                           code="run_not_found")
        return found

    async def approve(self, run_id: str, scope: str = "once", code_hash: str | None = None, *,
                      who: str | None = None) -> review.Paused:
        """Claim the run and resume it: its code runs once. The run's record after (`done`, `failed`, or
        `awaiting_approval` again for later code); 404/409/410 as `ApiError`. `who`: the key's name."""
        return await self._answer(run_id, Answer(_SCOPE_CHOICE[scope], who=who or review.who_of(self.request)),
                                  code_hash, "approve")

    async def reject(self, run_id: str, reason: str, code_hash: str | None = None, *,
                     who: str | None = None) -> review.Paused:
        """Claim the run and resume it with `reason` as the model's next observation; as `approve` otherwise."""
        return await self._answer(run_id, Answer("reject", reason, who=who or review.who_of(self.request)),
                                  code_hash, "reject")

    async def _answer(self, run_id: str, answer: Answer, code_hash: str | None, verb: str) -> review.Paused:
        request, state = self.request, get_state(self.request)
        record = await asyncio.to_thread(self.get, run_id)  # 404 before waiting for the model
        slot = state.slot(record.request.get("model"))
        session = record.request.get("session")
        kept = memory.agent_session(request, session) if session else None
        plan = review.resumed_plan(request, record)
        scope = {"approve": "once", "session": "session", "always": "always"}.get(answer.choice)

        def work(control: JobControl, emit: Emit) -> Any:
            with _mapped():  # the claim is the first thing the job does, once it has the model's turn
                claimed = self.runs.claim(run_id, "reject" if answer.choice == "reject" else "approve",
                                          answer.who or "anonymous", owner=self.owner, scope=scope,
                                          feedback=answer.feedback, code_hash=code_hash)
            build = agents.code_work if claimed.kind == "code" else agents.run_work
            resumed = build(state, slot, claimed.request, kept, plan, resume=(claimed.checkpoint, answer))
            try:
                outcome = resumed(control, emit)
            except BaseException as exc:
                self.runs.fail(run_id, f"{type(exc).__name__}: {exc}")
                raise
            if isinstance(outcome, review.Paused):
                return outcome
            return review.Paused(self.runs.finish(run_id, outcome), outcome.get("trace_id"))

        route = f"/v1/runs/{{run_id}}/{verb}"
        job = await state.start(slot, request, work, route)
        try:
            done: review.Paused = await job.result()
        except Exception as exc:
            state.count_outcome(exc, route, job)
            raise
        return done


def _answered(done: review.Paused) -> JSONResponse:
    """200 with the run's record, or 202 when the resumed run paused again before other code."""
    return JSONResponse(done.body(), status_code=202 if done.record.status == "awaiting_approval" else 200)


@router.get("/v1/runs", response_model=PausedRunList, summary="This key's runs awaiting approval")
def list_runs(request: Request) -> Any:
    """The runs of this key that wait for a person's decision."""
    return PausedRunList(data=[PausedRun(**r.to_dict()) for r in PausedRuns(request).list_pending()])


@router.get("/v1/runs/{run_id}", response_model=PausedRun, summary="A paused run: what it asks, its status, its result",
            responses={404: _ERRORS[404]})
def get_run(request: Request, run_id: str = _RUN_ID) -> Any:
    """One of this key's paused runs, in any status, with its result once done."""
    return PausedRun(**PausedRuns(request).get(run_id).to_dict())


@router.post("/v1/runs/{run_id}/approve", response_model=PausedRun, responses=_ERRORS,
             summary="Approve the paused run's code: it runs once, and the run goes on")
async def approve(body: ApproveBody, request: Request, run_id: str = _RUN_ID) -> Any:
    """200 with the run's record once it has finished, or 202 when the resumed run paused again."""
    return _answered(await PausedRuns(request).approve(run_id, body.scope, body.code_hash))


@router.post("/v1/runs/{run_id}/reject", response_model=PausedRun, responses=_ERRORS,
             summary="Reject the paused run's code: the model reads why and writes another version")
async def reject(body: RejectBody, request: Request, run_id: str = _RUN_ID) -> Any:
    """200 with the run's record once the model's next try finished, or 202 when it paused again."""
    return _answered(await PausedRuns(request).reject(run_id, body.reason, body.code_hash))
