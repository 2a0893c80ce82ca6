"""Review inside the agents' loops: nothing the review refuses reaches the sandbox or a tool, the reason goes
back to the model, nobody to ask stops the run, and a paused run resumes from its JSON checkpoint."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support.review_doubles import RecordingSandbox, ScriptedPrompter
from unit.serve.helpers import FakeSandbox, fenced

from nativa import tracing
from nativa.agent import CodeAgent
from nativa.agent.review_gate import ReviewGate
from nativa.agent.tool_agent import ToolAgent
from nativa.config import Settings
from nativa.models import ScriptedModel
from nativa.review import Policy, ReviewContext
from nativa.review.approvals import Answer, Approvals, Reviewer
from nativa.review.audit import AuditLog
from nativa.review.later import Deferring
from nativa.review.store import SQLiteReviewStore
from nativa.review.terminal import TerminalPrompter
from nativa.tools import Tool, tool

TESTS = "assert add(2, 3) == 5\n"
GOOD = "def add(a, b):\n    return a + b\n"
RISKY = "import socket\ndef add(a, b):\n    return a + b\n"
RISKY_TOO = "import socket\ndef add(a, b):\n    return b + a\n"  # same action (network socket), other code


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with SQLiteReviewStore(tmp_path / "nativa.db") as opened:
        yield opened


def reviewer(store: SQLiteReviewStore, prompter: Any, mode: str = "risky") -> Reviewer:
    return Reviewer(Policy.load(), mode=mode, approvals=Approvals(store), prompter=prompter,  # type: ignore[arg-type]
                    audit=AuditLog(store))


def code_agent(model: ScriptedModel, sandbox: Any, gate: ReviewGate | None, **kw: Any) -> CodeAgent:
    kw.setdefault("candidates", 1)
    return CodeAgent(model, sandbox, generate_tests="never", review=gate, **kw)


def test_a_rejected_candidate_never_runs_and_the_model_reads_why(store: SQLiteReviewStore) -> None:
    sandbox = RecordingSandbox(FakeSandbox())
    model = ScriptedModel([fenced(RISKY), fenced(GOOD)])
    person = ScriptedPrompter(Answer("reject", "no network access in this job"))
    gate = ReviewGate(reviewer(store, person), ReviewContext(session="s1", who="ana"))
    result = code_agent(model, sandbox, gate).solve("add two numbers", TESTS)
    assert sandbox.ran("import socket") == 0 and sandbox.runs == 1  # only the safer version ran
    assert result.success and result.code == GOOD
    first = result.attempts[0]
    assert first.outcome == "rejected" and first.error_type == "ReviewRejected"
    (candidate,) = first.candidates
    assert candidate.outcome == "rejected" and candidate.review is not None
    assert candidate.review.status == "rejected" and candidate.review.who == "ana"
    assert [f.rule for f in candidate.review.findings] == ["network"]
    retry = model.calls[1][-1].content  # the `rejected` prompt: the refused code and the reviewer's words
    assert "the reviewer rejected this because: no network access in this job" in retry
    assert "import socket" in retry and "not run" in retry
    entries = AuditLog(store).entries("s1")
    assert [(e.verdict, e.approved) for e in entries] == [("rejected", False), ("not_needed", True)]
    data = result.to_dict()  # typed in the result, and JSON all the way down
    assert data["attempts"][0]["candidates"][0]["review"]["status"] == "rejected"
    json.dumps(data)


def test_each_review_is_a_span_in_the_run_s_trace(store: SQLiteReviewStore, tmp_path: Path) -> None:
    spans = InMemorySpanExporter()
    tracing.setup(Settings(home=tmp_path / "home"), exporters=[spans])
    try:
        person = ScriptedPrompter(Answer("reject", "no network access in this job"))
        gate = ReviewGate(reviewer(store, person), ReviewContext(session="s1", who="ana"))
        result = code_agent(ScriptedModel([fenced(RISKY), fenced(GOOD)]), RecordingSandbox(FakeSandbox()),
                            gate).solve("add two numbers", TESTS)
        assert tracing.force_flush(timeout_s=10.0)
        reviews = [s for s in spans.get_finished_spans() if s.name == "review approval"]
    finally:
        tracing.shutdown()
    assert result.trace_id is not None
    assert [f"{s.context.trace_id:032x}" for s in reviews] == [result.trace_id] * 2  # one per candidate, in the run
    refused, passed = (dict(s.attributes or {}) for s in reviews)
    assert refused["nativa.review.decision"] == "rejected" and refused["nativa.review.who"] == "ana"
    assert refused["nativa.review.max_risk"] == "high" and list(refused["nativa.review.rules"]) == ["network"]
    assert passed["nativa.review.decision"] == "not_needed" and passed["nativa.review.approved"] is True
    entries = AuditLog(store).entries("s1")
    assert [e.code_hash for e in entries] == [s["nativa.review.code_hash"] for s in (refused, passed)]


def test_without_a_terminal_the_run_stops_and_nothing_runs(store: SQLiteReviewStore) -> None:
    sandbox = RecordingSandbox(FakeSandbox())
    model = ScriptedModel([fenced(RISKY)])
    gate = ReviewGate(reviewer(store, TerminalPrompter(stdin=io.StringIO())), ReviewContext(session="ci"))
    result = code_agent(model, sandbox, gate).solve("add two numbers", TESTS)
    assert sandbox.runs == 0 and not result.success and result.code is None
    assert result.stop_reason == "review_unavailable"
    assert result.stop_message is not None and "no terminal" in result.stop_message
    assert "nothing was run" in result.stop_message
    assert result.attempts[0].candidates[0].review.status == "unavailable"  # type: ignore[union-attr]
    assert model.remaining == 0 and len(model.calls) == 1  # it did not go on asking the model


def test_mode_never_runs_everything_unasked(store: SQLiteReviewStore) -> None:
    sandbox = RecordingSandbox(FakeSandbox())
    gate = ReviewGate(reviewer(store, TerminalPrompter(stdin=io.StringIO()), mode="never"))
    result = code_agent(ScriptedModel([fenced(RISKY)]), sandbox, gate).solve("add", TESTS)
    assert result.success and sandbox.ran("import socket") == 1
    assert result.attempts[0].candidates[0].review.status == "not_needed"  # type: ignore[union-attr]


def test_a_session_approval_covers_later_candidates_with_the_same_action_only_in_that_session(
        store: SQLiteReviewStore) -> None:
    sandbox = RecordingSandbox(FakeSandbox(good="never passes"))
    replies = [fenced(RISKY), fenced(RISKY_TOO), fenced("import socket\nadd = lambda a, b: a + b\n"),
               fenced("import socket\nadd = lambda a, b: b + a\n")]
    person = ScriptedPrompter(Answer("session"))
    gate = ReviewGate(reviewer(store, person), ReviewContext(session="s1", who="ana"))
    result = code_agent(ScriptedModel(replies), sandbox, gate, max_attempts=2, candidates=3).solve("add", TESTS)
    assert len(person.asked) == 1  # one "approve for this session", then every same action is covered
    statuses = [c.review.status for a in result.attempts for c in a.candidates if c.review is not None]
    assert sorted(statuses) == ["approved", "covered", "covered", "covered"]
    assert sandbox.ran("import socket") == 4

    other = ScriptedPrompter(Answer("reject"))  # another session is asked again
    again = ReviewGate(reviewer(store, other), ReviewContext(session="s2"))
    code_agent(ScriptedModel([fenced(RISKY)]), sandbox, again, max_attempts=1).solve("add", TESTS)
    assert len(other.asked) == 1 and sandbox.ran("import socket") == 4

    same = ReviewGate(reviewer(store, ScriptedPrompter()), ReviewContext(session="s1"))  # asks nobody
    later = code_agent(ScriptedModel([fenced(RISKY_TOO)]), sandbox, same, max_attempts=1).solve("add", TESTS)
    assert later.attempts[0].candidates[0].review.status == "covered"  # type: ignore[union-attr]


def test_once_does_not_cover_the_next_candidate(store: SQLiteReviewStore) -> None:
    sandbox = RecordingSandbox(FakeSandbox(good="never passes"))
    person = ScriptedPrompter(Answer("approve"), Answer("reject"))
    gate = ReviewGate(reviewer(store, person), ReviewContext(session="s1"))
    code_agent(ScriptedModel([fenced(RISKY), fenced(RISKY_TOO)]), sandbox, gate, max_attempts=2).solve("add", TESTS)
    assert len(person.asked) == 2 and sandbox.ran("import socket") == 1


def test_a_deferred_review_pauses_and_the_checkpoint_resumes_in_a_new_agent(store: SQLiteReviewStore) -> None:
    sandbox = RecordingSandbox(FakeSandbox())
    model = ScriptedModel([fenced("def add(a, b):\n    return a - b"), fenced(RISKY)])
    gate = ReviewGate(reviewer(store, Deferring()), ReviewContext(session="run:1", who="api"))
    paused = code_agent(model, sandbox, gate, max_attempts=3).solve("add", TESTS)
    assert paused.stop_reason == "awaiting_approval" and not paused.success
    assert paused.pending is not None and paused.pending.code == RISKY and paused.pending.at == 2
    assert paused.pending.review.status == "pending" and sandbox.ran("import socket") == 0
    assert len(paused.attempts) == 1  # the paused attempt is not over
    assert "checkpoint" not in paused.to_dict()["pending"]
    saved = json.loads(json.dumps(paused.pending.checkpoint))  # what the server stores: JSON, never pickle

    fresh_sandbox = RecordingSandbox(FakeSandbox())
    fresh = ScriptedModel([])  # the approved candidate passes: the model is not asked again
    agent = code_agent(fresh, fresh_sandbox, ReviewGate(reviewer(store, Deferring()), ReviewContext(session="run:1")),
                       max_attempts=3)
    done = agent.resume(saved, Answer("approve", who="ops"))
    assert done.success and done.stop_reason == "passed" and done.code == RISKY
    assert fresh_sandbox.seen == [RISKY]  # exactly the approved code, exactly once
    assert [a.number for a in done.attempts] == [1, 2]
    assert done.attempts[1].candidates[0].review.status == "approved"  # type: ignore[union-attr]
    assert done.attempts[1].candidates[0].review.who == "ops"  # type: ignore[union-attr]
    verdicts = [(e.verdict, e.who) for e in AuditLog(store).entries("run:1")]
    assert verdicts == [("not_needed", "api"), ("pending", "api"), ("approved", "ops")]


def test_a_rejection_after_a_pause_goes_back_to_the_model(store: SQLiteReviewStore) -> None:
    sandbox = RecordingSandbox(FakeSandbox())
    gate = ReviewGate(reviewer(store, Deferring()), ReviewContext(session="run:2"))
    paused = code_agent(ScriptedModel([fenced(RISKY)]), sandbox, gate).solve("add", TESTS)
    assert paused.pending is not None
    model = ScriptedModel([fenced(GOOD)])
    done = code_agent(model, sandbox, gate).resume(paused.pending.checkpoint, Answer("reject", "use no sockets"))
    assert done.success and sandbox.seen == [GOOD]
    assert "the reviewer rejected this because: use no sockets" in model.calls[0][-1].content


def test_resuming_with_the_answer_for_other_code_asks_again(store: SQLiteReviewStore) -> None:
    """The answer is bound to the code's hash: a checkpoint whose candidate was changed pauses again."""
    gate = ReviewGate(reviewer(store, Deferring()), ReviewContext(session="run:3"))
    sandbox = RecordingSandbox(FakeSandbox())
    paused = code_agent(ScriptedModel([fenced(RISKY)]), sandbox, gate).solve("add", TESTS)
    assert paused.pending is not None
    saved = paused.pending.checkpoint
    saved["drawn"][0]["code"] = "import os\nos.system('rm -rf /')\n" + GOOD
    again = code_agent(ScriptedModel([]), sandbox, gate).resume(saved, Answer("approve", who="ops"))
    assert again.stop_reason == "awaiting_approval" and sandbox.runs == 0


# -- the tool agent -------------------------------------------------------------------------------------
def call(name: str, **arguments: Any) -> str:
    return json.dumps({"tool": name, "arguments": arguments})


class Wiper:
    """A tool with a side effect (the policy knows no rule for it: `tool-unknown`, medium)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def tool(self) -> Tool:
        @tool(name="wipe")
        def wipe(table: str) -> str:
            """Delete every row of a table."""
            self.calls.append(table)
            return f"wiped {table}"

        return wipe


def test_a_rejected_tool_call_is_a_failed_result_carrying_the_feedback(store: SQLiteReviewStore) -> None:
    wiper = Wiper()
    model = ScriptedModel([call("wipe", table="orders"), call("final_answer", answer="I did not wipe it")])
    person = ScriptedPrompter(Answer("reject", "never wipe orders"))
    gate = ReviewGate(reviewer(store, person), ReviewContext(session="t1"))
    result = ToolAgent(model, [wiper.tool()], review=gate).run("wipe the orders table")
    assert wiper.calls == [] and result.answer == "I did not wipe it"
    (step,) = result.steps
    assert step.error == "not run: review rejected" and step.review is not None and step.review.status == "rejected"
    assert step.observation == "the reviewer rejected this because: never wipe orders"
    fed = model.calls[1][-1].content
    assert "never wipe orders" in fed and "was not run" in fed


def test_tool_calls_fail_closed_without_a_terminal(store: SQLiteReviewStore) -> None:
    wiper = Wiper()
    gate = ReviewGate(reviewer(store, TerminalPrompter(stdin=io.StringIO())), ReviewContext(session="t2"))
    result = ToolAgent(ScriptedModel([call("wipe", table="orders")]), [wiper.tool()], review=gate).run("wipe it")
    assert wiper.calls == [] and result.stop_reason == "review_unavailable" and result.answer is None
    assert result.stop_message is not None and "no terminal" in result.stop_message


def test_a_paused_tool_call_runs_once_after_approval(store: SQLiteReviewStore) -> None:
    wiper = Wiper()
    gate = ReviewGate(reviewer(store, Deferring()), ReviewContext(session="t3"))
    paused = ToolAgent(ScriptedModel([call("wipe", table="orders")]), [wiper.tool()], review=gate).run("wipe it")
    assert paused.stop_reason == "awaiting_approval" and wiper.calls == [] and paused.pending is not None
    assert json.loads(paused.pending.code) == {"tool": "wipe", "arguments": {"table": "orders"}}
    saved = json.loads(json.dumps(paused.pending.checkpoint))
    model = ScriptedModel([call("final_answer", answer="wiped")])
    done = ToolAgent(model, [wiper.tool()], review=gate).resume(saved, Answer("approve", who="ops"))
    assert wiper.calls == ["orders"] and done.answer == "wiped" and done.stop_reason == "final_answer"
    assert done.steps[0].review.status == "approved" and done.steps[0].observation == "wiped orders"  # type: ignore[union-attr]


def test_a_cascade_paused_on_its_large_stage_resumes_there_with_its_cost(store: SQLiteReviewStore) -> None:
    from nativa.models.cascade import CascadeModel

    def chain(small: list[str], large: list[str]) -> CascadeModel:
        return CascadeModel(("small", "large"), lambda s: ScriptedModel(small if s == "small" else large, name=s))

    gate = ReviewGate(reviewer(store, Deferring()), ReviewContext(session="run:c", who="api"))
    paused = code_agent(chain([fenced("def add(a, b):\n    return a * b\n")], [fenced(RISKY)]),  # type: ignore[arg-type]
                        RecordingSandbox(FakeSandbox()), gate, max_attempts=1).solve("add", TESTS)
    assert paused.stop_reason == "awaiting_approval" and [e.to for e in paused.escalations] == ["large"]
    saved = json.loads(json.dumps(paused.pending.checkpoint))  # type: ignore[union-attr]
    assert saved["stage"] == 1 and saved["result"]["cost"]["stages"][0]["output_tokens"] > 0
    done = code_agent(chain([], []), RecordingSandbox(FakeSandbox()), gate,  # type: ignore[arg-type]
                      max_attempts=1).resume(saved, Answer("approve", who="ops"))
    assert done.success and done.answered_by == "large" and [a.model for a in done.attempts] == ["small", "large"]
    assert done.cost is not None and done.cost.stages[0].output_tokens > 0  # the part before the pause counts
