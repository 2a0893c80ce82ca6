"""Which audit entries the log waits onto the disk: every answer a person gave (and every refusal), while an
entry nobody was asked about is committed without that wait; the chain is intact either way."""

from __future__ import annotations

from pathlib import Path

from support.review_doubles import ScriptedPrompter

from nativa.review import Policy, ReviewContext
from nativa.review.approvals import Answer, Approvals, Reviewer
from nativa.review.audit import AuditLog
from nativa.review.store import SQLiteReviewStore


def test_unasked_entries_skip_the_disk_wait_and_answers_do_not(tmp_path: Path) -> None:
    with SQLiteReviewStore(tmp_path / "nativa.db") as store:
        statements: list[str] = []
        store._db.set_trace_callback(statements.append)
        reviewer = Reviewer(Policy.load(), mode="risky", approvals=Approvals(store),
                            prompter=ScriptedPrompter(Answer("approve")), audit=AuditLog(store))
        context = ReviewContext(session="s1")

        def syncs_while(code: str) -> list[str]:
            statements.clear()
            reviewer.review(code, context)
            return [s for s in statements if s.startswith("PRAGMA synchronous")]

        assert syncs_while("print(sum(range(10)))\n") == ["PRAGMA synchronous=NORMAL", "PRAGMA synchronous=FULL"]
        assert syncs_while("import socket\n") == []  # asked and approved: committed at FULL, waited on
        store._db.set_trace_callback(None)
        assert store._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL again for everything else
        log = AuditLog(store)
        assert [e.verdict for e in log.entries()] == ["not_needed", "approved"] and log.verify().ok
