"""The seam between the console's approvals page and the store of runs paused for review.

A run that needs a person's approval waits in a pending-run store (the HTTP pause of issue 17); the console
lists what waits, shows the code with its findings, and approves or rejects through this protocol, so the
page works with any store that keeps the contract: `approve` resumes the run exactly once, and a second
approve or reject of the same run raises `RunNotPendingError` instead of running anything again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from nativa.review.findings import Finding

PendingStatus = Literal["awaiting_approval", "approved", "rejected", "expired", "completed", "failed"]


@dataclass(frozen=True)
class PendingRun:
    """A run paused before its code ran: what it would run, what the policy found, and how it ended."""

    id: str
    kind: str  # "code" | "run"
    task: str
    code: str
    findings: tuple[Finding, ...] = ()
    session: str | None = None
    created_at: float = 0.0
    status: PendingStatus = "awaiting_approval"
    subject: str = "code"  # "code" or "tool:<name>"
    decided_by: str | None = None
    reason: str | None = None  # a rejection's reason
    result: dict[str, Any] | None = None  # the agent's result once the run went on
    trace_id: str | None = None
    code_hash: str | None = None  # of the code shown, when the store checks it: the form sends it back
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def max_risk(self) -> str:
        """The highest risk among the findings ("none" without any), for the list's risk column."""
        from nativa.review.findings import risk_rank

        return max((f.risk for f in self.findings), key=risk_rank, default="none")


@runtime_checkable
class PendingRuns(Protocol):
    """What the console needs from the pending-run store."""

    def list_pending(self) -> list[PendingRun]:
        """Runs still waiting for a decision, oldest first."""
        ...

    def get(self, run_id: str) -> PendingRun | None:
        """Any run the store knows, decided or not."""
        ...

    def approve(self, run_id: str, who: str, code_hash: str | None = None) -> PendingRun:
        """Let the run go on (its code runs once); `RunNotPendingError` when it no longer waits, or when
        `code_hash` is not what it asks about now (it paused again, for other code, since the page showed it)."""
        ...

    def reject(self, run_id: str, who: str, reason: str, code_hash: str | None = None) -> PendingRun:
        """Refuse it; the reason goes back to the model. `RunNotPendingError` as for `approve`."""
        ...
