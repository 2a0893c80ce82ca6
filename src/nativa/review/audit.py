"""The audit log: every verdict and approval, append-only, each entry carrying the hash of the one before.

Someone answers for every piece of model-written code that ran; this is where it says who, when, for how
long (scope), which code (its hash) and what the policy found. Each entry's hash covers its content and
the previous entry's hash, and the store keeps the last hash apart (the head), so `verify` finds an entry
that was edited, removed (in the middle or at the end) or moved. It cannot stop someone who rewrites the
whole chain and the head together; that needs the hash published elsewhere (a span carries each one).

    log = AuditLog(SQLiteReviewStore(path))
    log.record(who="ana", session="s1", subject="code", scope="once", code_hash=..., verdict="approved",
               approved=True, max_risk="high", findings=verdict.findings, reason="...")
    log.verify().ok
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from nativa.review.findings import Finding

GENESIS = "sha256:" + "0" * 64
ProblemKind = Literal["edited", "removed", "reordered", "forged"]
Head = tuple[int, str]  # (seq, hash) of the last entry ever appended


def utc_now() -> str:
    """The time an entry or a grant is stamped with: UTC ISO 8601 to the microsecond."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class AuditEntry:
    """One line of the log. `seq` is the storage position; the chain itself is `prev_hash` -> `hash`."""

    seq: int
    at: str
    who: str
    session: str
    subject: str
    scope: str | None
    code_hash: str
    verdict: str
    approved: bool
    max_risk: str
    findings: tuple[Finding, ...]
    reason: str
    prev_hash: str
    hash: str = ""

    def payload(self) -> dict[str, Any]:
        """What the hash covers: everything but the storage position and the hash itself."""
        return {"at": self.at, "who": self.who, "session": self.session, "subject": self.subject,
                "scope": self.scope, "code_hash": self.code_hash, "verdict": self.verdict,
                "approved": self.approved, "max_risk": self.max_risk,
                "findings": [f.to_dict() for f in self.findings], "reason": self.reason,
                "prev_hash": self.prev_hash}

    def sealed(self) -> AuditEntry:
        """The entry with its hash set over its payload: the last step before it is stored."""
        return replace(self, hash=entry_hash(self.payload()))

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON (`nativa review log --json`): the payload with its seq and hash."""
        return {"seq": self.seq, **self.payload(), "hash": self.hash}


def entry_hash(payload: dict[str, Any]) -> str:
    """sha256 over the payload's canonical JSON (sorted keys, no spaces), so any change to a field shows."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


class AuditStore(Protocol):
    """Storage for the log. `append` must read the head and add the next entry atomically.

    New entries chain to the head, not to the last entry still stored, so an entry removed from the end
    stays visible as a gap even after more entries were appended.
    """

    def append(self, build: Callable[[Head | None], AuditEntry], *, durable: bool = True) -> AuditEntry:
        """Call `build(head)` and store the entry it returns and the new head, as one transaction.

        `durable=False` may return before the entry is on disk (it reaches it with the next durable one);
        entry and head are still one transaction, so a power cut can drop such a tail, never break the chain."""
        ...

    def entries(self, session: str | None = None) -> list[AuditEntry]:
        """Entries in storage order (all sessions when `session` is None)."""
        ...

    def head(self) -> Head | None:
        """(seq, hash) of the last entry appended, kept apart from the entries; None for an empty log."""
        ...


class MemoryAuditStore:
    """The log for one process (tests, a CLI run with nothing to keep)."""

    def __init__(self) -> None:
        self.rows: list[AuditEntry] = []
        self._head: Head | None = None
        self._lock = threading.Lock()

    def append(self, build: Callable[[Head | None], AuditEntry], *, durable: bool = True) -> AuditEntry:
        """Build and keep the entry under one lock, so concurrent appends chain in order."""
        with self._lock:
            entry = build(self._head)
            self.rows.append(entry)
            self._head = (entry.seq, entry.hash)
            return entry

    def entries(self, session: str | None = None) -> list[AuditEntry]:
        """Entries in the order appended (all sessions when `session` is None)."""
        with self._lock:
            return [e for e in self.rows if session is None or e.session == session]

    def head(self) -> Head | None:
        """(seq, hash) of the last entry appended; None for an empty log."""
        return self._head


@dataclass(frozen=True)
class ChainProblem:
    """One break in the chain: the entry's seq, what kind of break, and a sentence naming it."""

    seq: int
    kind: ProblemKind
    message: str


@dataclass(frozen=True)
class ChainReport:
    """What `nativa review log --verify` prints: ok, how many entries, and each break in the chain."""

    ok: bool
    entries: int
    problems: tuple[ChainProblem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON (`nativa review log --verify --json`)."""
        return {"ok": self.ok, "entries": self.entries,
                "problems": [{"seq": p.seq, "kind": p.kind, "message": p.message} for p in self.problems]}


def verify_chain(entries: Sequence[AuditEntry], head: Head | None) -> ChainReport:
    """Walk the chain in storage order; name every entry edited, removed, moved or added outside it."""
    problems: list[ChainProblem] = []
    by_hash = {e.hash: e for e in entries}
    previous: AuditEntry | None = None
    for entry in entries:
        if entry_hash(entry.payload()) != entry.hash:
            problems.append(ChainProblem(entry.seq, "edited", f"entry {entry.seq} was changed after it was "
                                         "written (its content no longer matches its hash)"))
        expected = previous.hash if previous is not None else GENESIS
        expected_seq = previous.seq + 1 if previous is not None else 1
        if entry.prev_hash != expected:
            problems.append(_break(entry, previous, expected_seq, by_hash))
        previous = entry
    last = (entries[-1].seq, entries[-1].hash) if entries else None
    if head != last:
        problems.append(_head_problem(head, last))
    return ChainReport(ok=not problems, entries=len(entries), problems=tuple(problems))


def _break(entry: AuditEntry, previous: AuditEntry | None, expected_seq: int,
           by_hash: dict[str, AuditEntry]) -> ChainProblem:
    after = f"entry {previous.seq}" if previous is not None else "the start of the log"
    if entry.seq != expected_seq:
        return ChainProblem(entry.seq, "removed", f"entries between {after} and entry {entry.seq} were removed")
    if entry.prev_hash in by_hash:
        return ChainProblem(entry.seq, "reordered", f"entry {entry.seq} was written after entry "
                            f"{by_hash[entry.prev_hash].seq}, but now follows {after}: entries were moved")
    return ChainProblem(entry.seq, "edited", f"the entry before entry {entry.seq} was changed or replaced "
                        f"(entry {entry.seq} recorded a different hash for it)")


def _head_problem(head: Head | None, last: Head | None) -> ChainProblem:
    if head is None:
        return ChainProblem(last[0] if last else 0, "forged", "the log has entries but no head: they were "
                            "added outside the audit log")
    if last is None or head[0] > last[0]:
        return ChainProblem(head[0], "removed", f"the log ended at entry {head[0]} but now ends at entry "
                            f"{last[0] if last else 0}: entries at the end were removed")
    if head[0] < last[0]:
        return ChainProblem(last[0], "forged", f"entries after entry {head[0]} were added outside the audit log")
    return ChainProblem(head[0], "edited", f"entry {head[0]}, the last one, was changed or replaced")


class AuditLog:
    """Appends sealed entries to a store and verifies the chain; the logic, whatever the storage."""

    def __init__(self, store: AuditStore, clock: Callable[[], str] = utc_now) -> None:
        self.store = store
        self._clock = clock

    def record(self, *, who: str, session: str, subject: str, scope: str | None, code_hash: str, verdict: str,
               approved: bool, max_risk: str, findings: Iterable[Finding], reason: str,
               durable: bool = True) -> AuditEntry:
        """Append one entry chained to the last; returns it with its seq and hash (on disk unless `durable`
        is False: see `AuditStore.append`)."""
        kept = tuple(findings)
        at = self._clock()

        def build(head: Head | None) -> AuditEntry:
            seq, prev = head if head is not None else (0, GENESIS)
            return AuditEntry(seq=seq + 1, at=at, who=who, session=session, subject=subject, scope=scope,
                              code_hash=code_hash, verdict=verdict, approved=approved, max_risk=max_risk,
                              findings=kept, reason=reason, prev_hash=prev).sealed()

        return self.store.append(build, durable=durable)

    def entries(self, session: str | None = None) -> list[AuditEntry]:
        """Entries in storage order (all sessions when `session` is None), for `nativa review log`."""
        return self.store.entries(session)

    def verify(self) -> ChainReport:
        """Recompute every hash and link against the stored head: an edited, removed or reordered entry
        shows as a problem (`nativa review log --verify` exits 1)."""
        return verify_chain(self.store.entries(), self.store.head())
