"""Modes and scopes: who is asked when, and what an approval covers (the normalised action, not the code)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support.review_doubles import ScriptedPrompter as Scripted

from nativa import tracing
from nativa.errors import BadInputError, ReviewUnavailableError
from nativa.review import Policy, ReviewContext
from nativa.review.approvals import (
    Action,
    Answer,
    Approvals,
    ApprovalStore,
    MemoryApprovalStore,
    Reviewer,
    ReviewRequest,
)
from nativa.review.audit import AuditLog, MemoryAuditStore
from nativa.review.store import SQLiteReviewStore

READ_API = "import urllib.request\nurllib.request.urlopen('https://api.example.com/v1/orders')\n"
READ_API_AGAIN = "import urllib.request\nbody = urllib.request.urlopen('https://api.example.com/v2/x').read()\n"
WRITE_FILE = "open('/etc/orders.csv', 'w').write('x')\n"
BENIGN = "print(sum(range(10)))\n"


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApprovalStore]:
    """Every ApprovalStore runs the same scope tests."""
    if request.param == "memory":
        yield MemoryApprovalStore()
    else:
        with SQLiteReviewStore(tmp_path / "nativa.db") as sqlite:
            yield sqlite


@pytest.fixture
def make(policy: Policy, store: ApprovalStore) -> Callable[..., tuple[Reviewer, Scripted]]:
    def build(*answers: Answer, mode: str = "risky") -> tuple[Reviewer, Scripted]:
        prompter = Scripted(*answers)
        return Reviewer(policy, mode=mode, approvals=Approvals(store), prompter=prompter), prompter  # type: ignore[arg-type]

    return build


def ctx(session: str = "s1") -> ReviewContext:
    return ReviewContext(session=session, who="ana")


def test_once_does_not_leak_into_the_session(make: Callable[..., tuple[Reviewer, Scripted]]) -> None:
    reviewer, prompter = make(Answer("approve"), Answer("reject"))
    first = reviewer.review(READ_API, ctx())
    assert first.approved and first.status == "approved" and first.scope == "once"
    second = reviewer.review(READ_API, ctx())  # the very same code: a once-approval covered only the first
    assert not second.approved and second.status == "rejected" and len(prompter.asked) == 2


def test_session_approval_covers_the_same_action_in_other_words(make: Callable[..., tuple[Reviewer, Scripted]]) -> None:
    reviewer, prompter = make(Answer("session"))
    assert reviewer.review(READ_API, ctx()).scope == "session"
    again = reviewer.review(READ_API_AGAIN, ctx())  # different code, same action: network to api.example.com
    assert again.approved and again.status == "covered" and again.who == "ana"
    assert len(prompter.asked) == 1


def test_session_approval_does_not_leak_into_another_session(make: Callable[..., tuple[Reviewer, Scripted]]) -> None:
    reviewer, prompter = make(Answer("session"), Answer("reject", "not in this session"))
    assert reviewer.review(READ_API, ctx("s1")).approved
    other = reviewer.review(READ_API, ctx("s2"))
    assert not other.approved and other.status == "rejected" and len(prompter.asked) == 2
    assert other.feedback == "the reviewer rejected this because: not in this session"


def test_an_approval_never_covers_a_different_action(make: Callable[..., tuple[Reviewer, Scripted]]) -> None:
    reviewer, prompter = make(Answer("session"), Answer("reject"))
    assert reviewer.review(READ_API, ctx()).approved
    write = reviewer.review(WRITE_FILE, ctx())
    assert not write.approved and len(prompter.asked) == 2
    combined = Action.of(reviewer.policy.check_code(READ_API + WRITE_FILE).at_least("medium"))
    assert not Action.of(reviewer.policy.check_code(READ_API).at_least("medium")).covers(combined)


def test_a_store_returns_only_the_session_s_grants_and_the_global_ones(store: ApprovalStore) -> None:
    approvals = Approvals(store)
    mine = Action((("network", "api.example.com"),))
    everyone = Action((("sql-write", "orders"),))
    approvals.grant("s1", mine, "session", "ana")
    approvals.grant("s1", everyone, "always", "ana")
    assert approvals.grant("s1", Action((("file-write", "/etc/x"),)), "once", "ana") is None
    assert [(g.action, g.scope, g.session) for g in store.grants("s1")] == [
        (mine, "session", "s1"), (everyone, "always", None)]
    assert [(g.action, g.session) for g in store.grants("s2")] == [(everyone, None)]


def test_always_scope_covers_every_session(make: Callable[..., tuple[Reviewer, Scripted]]) -> None:
    reviewer, prompter = make(Answer("always"))
    assert reviewer.review(WRITE_FILE, ctx("s1")).scope == "always"
    assert reviewer.review(WRITE_FILE, ctx("s9")).status == "covered"
    assert len(prompter.asked) == 1


def test_risky_mode_asks_only_above_low(make: Callable[..., tuple[Reviewer, Scripted]]) -> None:
    reviewer, prompter = make()
    decision = reviewer.review(BENIGN, ctx())
    assert decision.approved and decision.status == "not_needed" and not prompter.asked
    low = reviewer.review("open('out.txt', 'w')\n", ctx())  # a write in the work dir is low
    assert low.status == "not_needed" and low.findings[0].risk == "low"


def test_always_mode_asks_even_for_clean_code_and_never_mode_never(
        make: Callable[..., tuple[Reviewer, Scripted]]) -> None:
    always, prompter = make(Answer("reject"), mode="always")
    assert always.review(BENIGN, ctx()).status == "rejected" and len(prompter.asked) == 1
    never, silent = make(mode="never")
    assert never.review(WRITE_FILE, ctx()).status == "not_needed" and not silent.asked


def test_a_rejection_feeds_the_findings_back_to_the_model(make: Callable[..., tuple[Reviewer, Scripted]]) -> None:
    reviewer, _ = make(Answer("reject"))
    decision = reviewer.review(WRITE_FILE, ctx())
    assert decision.feedback is not None and decision.feedback.startswith("the reviewer rejected this because:")
    assert "line 1" in decision.feedback and "/etc/orders.csv" in decision.feedback


def test_no_reviewer_fails_closed(policy: Policy) -> None:
    decision = Reviewer(policy, mode="risky").review(WRITE_FILE, ctx())
    assert not decision.approved and decision.status == "unavailable" and "nothing was run" in decision.reason

    def no_terminal(request: ReviewRequest) -> Answer:
        raise ReviewUnavailableError("no terminal here")

    refused = Reviewer(policy, mode="risky", prompter=no_terminal).review(WRITE_FILE, ctx())
    assert not refused.approved and refused.status == "unavailable" and refused.reason == "no terminal here"


def test_tool_calls_are_reviewed_with_the_same_scopes(make: Callable[..., tuple[Reviewer, Scripted]]) -> None:
    reviewer, prompter = make(Answer("session"), Answer("reject"))
    context = ReviewContext(session="s1", allow_hosts=("api.example.com",))
    delete = reviewer.review_tool_call("sql", {"query": "DELETE FROM orders"}, context)
    assert delete.approved and delete.action.items == (("sql-write", "orders"),)
    assert reviewer.review_tool_call("sql", {"query": "DELETE FROM orders WHERE id > 3"}, context).status == "covered"
    other_table = reviewer.review_tool_call("sql", {"query": "DELETE FROM customers"}, context)
    assert not other_table.approved and len(prompter.asked) == 2
    assert reviewer.review_tool_call("http", {"url": "https://api.example.com/x"}, context).status == "not_needed"


def test_every_decision_is_audited_and_traced(policy: Policy, spans: InMemorySpanExporter) -> None:
    audit = AuditLog(MemoryAuditStore())
    reviewer = Reviewer(policy, mode="risky", prompter=Scripted(Answer("approve", who="bo")), audit=audit)
    first = reviewer.review(WRITE_FILE, ctx())
    reviewer.review(BENIGN, ctx())
    entries = audit.entries()
    assert [(e.verdict, e.who, e.scope, e.approved) for e in entries] == [
        ("approved", "bo", "once", True), ("not_needed", "ana", None, True)]
    assert first.audit_seq == 1 and entries[0].code_hash == first.verdict.code_hash
    assert tracing.force_flush(timeout_s=10.0)
    approvals = [s for s in spans.get_finished_spans() if s.name == "review approval"]
    attrs = approvals[0].attributes or {}
    assert attrs["nativa.review.decision"] == "approved" and attrs["nativa.review.who"] == "bo"
    assert attrs["nativa.review.scope"] == "once" and attrs["nativa.review.max_risk"] == "high"


def test_bad_modes_and_scopes_are_bad_input(policy: Policy) -> None:
    with pytest.raises(BadInputError, match="review mode 'sometimes' is invalid; valid: never, risky, always"):
        Reviewer(policy, mode="sometimes")  # type: ignore[arg-type]
    with pytest.raises(BadInputError, match="scope 'forever' is invalid"):
        Approvals().grant("s1", Action(), "forever", "ana")  # type: ignore[arg-type]
    with pytest.raises(BadInputError, match="session name is empty"):
        ReviewContext(session=" ")
