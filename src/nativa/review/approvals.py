"""Who approves what, and for how long: review modes, approval scopes keyed on the normalised action.

The policy says what code does; a person decides whether it may. An approval is keyed on the *action*
(the findings' rules and targets: "network to api.example.com", "sql-write to orders"), never on the
code's text, so the model rewriting a line does not re-ask for the same thing, and approving one action
never approves another. An approval covers a later action only if that action does no more than it did.

    reviewer = Reviewer(Policy.load(), mode="risky", approvals=Approvals(MemoryApprovalStore()),
                        prompter=TerminalPrompter(), audit=AuditLog(SQLiteReviewStore(path)))
    decision = reviewer.review(code, ReviewContext(session="s1", who="ana"))
    if not decision.approved:
        observation = decision.feedback      # "the reviewer rejected this because ..." for the model

Modes: `never` (no one is asked), `risky` (ask when a finding is medium or high), `always` (ask for
everything). Scopes: `once` (this code only), `session` (this action in this session), `always` (this
action in every session). Nothing here reads a terminal: the `Prompter` does (see `terminal.py`; over
HTTP a person answers after the request returned, see `later.py`: the decision is then `pending`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, get_args

from nativa import tracing
from nativa.errors import BadInputError, ReviewUnavailableError
from nativa.review.audit import AuditLog, utc_now
from nativa.review.context import ReviewContext
from nativa.review.findings import Finding, Verdict
from nativa.review.policy import Policy

Mode = Literal["never", "risky", "always"]
Scope = Literal["once", "session", "always"]
Choice = Literal["approve", "session", "always", "reject", "defer"]  # defer: a person answers later (HTTP)
Status = Literal["not_needed", "covered", "approved", "rejected", "unavailable", "pending"]
MODES: tuple[Mode, ...] = get_args(Mode)
SCOPES: tuple[Scope, ...] = get_args(Scope)
_FLOOR: dict[str, str] = {"risky": "medium", "always": "low"}
_SCOPE_OF: dict[str, Scope] = {"approve": "once", "session": "session", "always": "always"}
_SCOPE_WORDS: dict[str, str] = {"once": "once", "session": "for this session", "always": "for every session"}
UNKNOWN_TARGET = "*"


def check_mode(mode: str) -> Mode:
    """The mode, or `BadInputError` naming the valid ones (for flags and request bodies)."""
    if mode not in MODES:
        raise BadInputError(f"review mode {mode!r} is invalid; valid: {', '.join(MODES)}")
    return mode  # type: ignore[return-value]


@dataclass(frozen=True)
class Action:
    """The normalised action: the (rule, target) pairs of the findings a review asks about, sorted.

    A finding whose target the code does not show gets `*`: approving "a write to a computed path" is
    approving exactly that, never a write to a named one.
    """

    items: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, findings: tuple[Finding, ...] | list[Finding]) -> Action:
        """The action a set of findings asks about; two reviews of different code with the same findings
        ask about the same action, so one approval covers both."""
        return cls(tuple(sorted({(f.rule, f.target or UNKNOWN_TARGET) for f in findings})))

    @property
    def key(self) -> str:
        """A stable name for this action (what the storage indexes), independent of the code's text."""
        text = json.dumps([list(item) for item in self.items], separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def covers(self, other: Action) -> bool:
        """True when `other` does nothing this action did not (every pair of it is one of ours)."""
        return set(other.items) <= set(self.items)

    def describe(self) -> str:
        """The action in words for a person and the audit log: "network api.example.com; ..."."""
        if not self.items:
            return "code with no findings"
        return "; ".join(f"{rule} {target}" if target != UNKNOWN_TARGET else f"{rule} (target not visible)"
                         for rule, target in self.items)

    def to_list(self) -> list[list[str]]:
        """The pairs as JSON lists, the form a stored grant keeps."""
        return [list(item) for item in self.items]

    @classmethod
    def from_list(cls, items: list[list[str]]) -> Action:
        """An action back from `to_list` (a stored grant), sorted again so its `key` is the same."""
        return cls(tuple(sorted((str(rule), str(target)) for rule, target in items)))


@dataclass(frozen=True)
class Grant:
    """An approval that outlives one review: for one session, or (`session=None`) for every session."""

    action: Action
    scope: Scope
    session: str | None
    who: str
    at: str


class ApprovalStore(Protocol):
    """Where grants live: in memory for one process, SQLite (`SQLiteReviewStore`), later the session store."""

    def add_grant(self, grant: Grant) -> None:
        """Keep the grant so later reviews it covers need nobody (for its session, or for every one)."""
        ...

    def grants(self, session: str) -> list[Grant]:
        """This session's grants plus every `always` grant."""
        ...


class MemoryApprovalStore:
    """Grants for the life of one process (one CLI invocation, one server)."""

    def __init__(self) -> None:
        self._grants: list[Grant] = []
        self._lock = threading.Lock()

    def add_grant(self, grant: Grant) -> None:
        """Keep the grant until the process ends."""
        with self._lock:
            self._grants.append(grant)

    def grants(self, session: str) -> list[Grant]:
        """This session's grants plus every `always` grant."""
        with self._lock:
            return [g for g in self._grants if g.session is None or g.session == session]


class Approvals:
    """The scope rules over any store: `once` is never stored, `session` is per session, `always` global."""

    def __init__(self, store: ApprovalStore | None = None, clock: Callable[[], str] = utc_now) -> None:
        self.store: ApprovalStore = store if store is not None else MemoryApprovalStore()
        self._clock = clock

    def covering(self, session: str, action: Action) -> Grant | None:
        """The earlier grant that covers `action` in `session`, if any."""
        for grant in self.store.grants(session):
            if grant.action.covers(action) and (grant.session is None or grant.session == session):
                return grant
        return None

    def grant(self, session: str, action: Action, scope: Scope, who: str) -> Grant | None:
        """Record an approval of `action`; `once` records nothing (it covered this one review only)."""
        if scope not in SCOPES:
            raise BadInputError(f"approval scope {scope!r} is invalid; valid: {', '.join(SCOPES)}")
        if scope == "once":
            return None
        grant = Grant(action, scope, None if scope == "always" else session, who, self._clock())
        self.store.add_grant(grant)
        return grant


def needs_review(mode: Mode, verdict: Verdict) -> bool:
    """`never`: no; `always`: yes; `risky`: when a finding is medium or high."""
    if mode == "never":
        return False
    return mode == "always" or bool(verdict.at_least("medium"))


def asked_about(mode: Mode, verdict: Verdict) -> tuple[Finding, ...]:
    """The findings a person is asked about in `mode` (and that the action is keyed on)."""
    return verdict.at_least(_FLOOR.get(mode, "medium"))


@dataclass(frozen=True)
class ReviewRequest:
    """What a person sees: the code (or the call), the verdict, the action it would approve."""

    subject: str
    code: str
    verdict: Verdict
    action: Action
    context: ReviewContext


@dataclass(frozen=True)
class Answer:
    """A person's answer; `feedback` replaces the default reason a rejection gives the model."""

    choice: Choice
    feedback: str | None = None
    who: str | None = None


class Prompter(Protocol):
    """Asks a person. Raises `ReviewUnavailableError` when there is no one to ask (no terminal)."""

    def __call__(self, request: ReviewRequest) -> Answer: ...


@dataclass(frozen=True)
class Decision:
    """Whether the code (or call) may run, why, and for how long the approval holds."""

    approved: bool
    reason: str
    scope: Scope | None
    findings: tuple[Finding, ...]
    status: Status
    verdict: Verdict
    action: Action
    feedback: str | None = None  # for the model on a rejection: "the reviewer rejected this because ..."
    who: str = "local"
    audit_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The decision as JSON, the form the CLI prints with `--json`."""
        return {"approved": self.approved, "status": self.status, "reason": self.reason, "scope": self.scope,
                "who": self.who, "findings": [f.to_dict() for f in self.findings],
                "max_risk": self.verdict.max_risk, "action": self.action.to_list(), "feedback": self.feedback,
                "code_hash": self.verdict.code_hash, "audit_seq": self.audit_seq}


def rejection_feedback(findings: tuple[Finding, ...], typed: str | None) -> str:
    """The observation the model gets: the person's words, or the findings they rejected."""
    if typed and typed.strip():
        return f"the reviewer rejected this because: {typed.strip()}"
    listed = "; ".join(f"line {f.line}: {f.message}" if f.line else f.message for f in findings)
    return f"the reviewer rejected this because: {listed or 'it was not approved'}. Write a version without it."


@dataclass
class Reviewer:
    """The one call the agent makes before each candidate runs: `review(code, context) -> Decision`."""

    policy: Policy
    mode: Mode = "risky"
    approvals: Approvals = field(default_factory=Approvals)
    prompter: Prompter | None = None
    audit: AuditLog | None = None

    def __post_init__(self) -> None:
        check_mode(self.mode)

    def review(self, code: str, context: ReviewContext | None = None) -> Decision:
        """Decide whether `code` may run: the policy's findings, the mode, standing grants, then a person
        when one can be asked (fail closed when none can); every decision is audited when a log is set."""
        chosen = context or ReviewContext()
        return self._decide("code", code, self.policy.check_code(code, chosen), chosen)

    def review_tool_call(self, tool: str, arguments: Mapping[str, Any],
                         context: ReviewContext | None = None) -> Decision:
        """The same decision for a tool call, its arguments reviewed by the policy's tool rules and shown
        to a person as JSON."""
        chosen = context or ReviewContext()
        shown = json.dumps(dict(arguments), indent=2, ensure_ascii=False, default=str)
        return self._decide(f"tool:{tool}", shown, self.policy.check_tool_call(tool, arguments, chosen), chosen)

    def _decide(self, subject: str, code: str, verdict: Verdict, context: ReviewContext) -> Decision:
        # An entry nobody was asked about (`not_needed`: every candidate of a run in risky mode, mostly)
        # is not waited onto the disk: that wait cost 3 ms a candidate, as much as a pooled sandbox run
        # (docs/benchmarks.md); a power cut may drop a tail of them, never an answer a person gave.
        with tracing.review_span("approval", code_hash=verdict.code_hash, session=context.session) as span:
            decision = self._outcome(subject, code, verdict, context)
            if self.audit is not None:
                entry = self.audit.record(who=decision.who, session=context.session, subject=subject,
                                          scope=decision.scope, code_hash=verdict.code_hash,
                                          verdict=decision.status, approved=decision.approved,
                                          max_risk=verdict.max_risk, findings=verdict.findings,
                                          reason=decision.reason, durable=decision.status != "not_needed")
                decision = replace(decision, audit_seq=entry.seq)
            span.set_verdict(verdict)
            span.set_decision(status=decision.status, approved=decision.approved, scope=decision.scope,
                              who=decision.who, mode=self.mode)
        return decision

    def _outcome(self, subject: str, code: str, verdict: Verdict, context: ReviewContext) -> Decision:
        asked = asked_about(self.mode, verdict)
        action = Action.of(asked)

        def decided(approved: bool, status: Status, reason: str, scope: Scope | None = None,
                    feedback: str | None = None, who: str | None = None) -> Decision:
            return Decision(approved, reason, scope, verdict.findings, status, verdict, action, feedback,
                            who or context.who)

        if not needs_review(self.mode, verdict):
            why = "review mode is never" if self.mode == "never" else "no finding at medium or high"
            return decided(True, "not_needed", why)
        grant = self.approvals.covering(context.session, action)
        if grant is not None:
            where = "every session" if grant.session is None else f"session {grant.session!r}"
            return decided(True, "covered", f"{action.describe()}: approved for {where} by {grant.who} at "
                           f"{grant.at}", grant.scope, who=grant.who)
        if self.prompter is None:
            return decided(False, "unavailable", f"{action.describe()} needs approval and no reviewer is "
                           "attached: nothing was run")
        try:
            answer = self.prompter(ReviewRequest(subject, code, verdict, action, context))
        except ReviewUnavailableError as exc:
            return decided(False, "unavailable", str(exc))
        who = answer.who or context.who
        if answer.choice == "defer":
            return decided(False, "pending", f"{action.describe()} awaits a person's approval: nothing was run "
                           "yet", who=who)
        if answer.choice == "reject":
            feedback = rejection_feedback(asked, answer.feedback)
            return decided(False, "rejected", feedback, feedback=feedback, who=who)
        scope = _SCOPE_OF[answer.choice]
        self.approvals.grant(context.session, action, scope, who)
        return decided(True, "approved", f"{action.describe()}: approved {_SCOPE_WORDS[scope]} by {who}", scope,
                       who=who)
