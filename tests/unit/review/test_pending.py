"""The paused-run store: its typed API (what the server and the console use), its transitions, exactly-once
claims, expiry, and its place in the session store's file."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from nativa.config import Settings
from nativa.errors import (
    BadInputError,
    PendingRunConflictError,
    PendingRunExpiredError,
    PendingRunNotFoundError,
)
from nativa.memory import open_memory
from nativa.memory._sqlite import APPLICATION_ID as MEMORY_APPLICATION_ID
from nativa.review.findings import Finding
from nativa.review.pending import Ask, PendingRuns
from nativa.review.store import APPLICATION_ID, SQLiteReviewStore

ASK = Ask(code="import socket\n", code_hash="sha256:aa", findings=(Finding("network", "high", 1, "socket", "socket"),),
          max_risk="high", action="network socket", reason="network socket awaits a person's approval")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def runs(tmp_path: Path) -> PendingRuns:
    return PendingRuns(SQLiteReviewStore(tmp_path / "nativa.db"), clock=Clock())


def paused(runs: PendingRuns, run_id: str = "run_1", owner: str = "key:a") -> None:
    runs.create(run_id=run_id, owner=owner, kind="code", ask=ASK, session="key:a:s1",
                request={"task": "add"}, checkpoint={"version": 1, "step": "x"}, ttl_s=60)


def test_create_get_list_and_what_a_record_shows(runs: PendingRuns) -> None:
    paused(runs)
    run = runs.get("run_1", "key:a")
    assert run is not None and run.status == "awaiting_approval" and run.revision == 1
    assert run.findings == ASK.findings and run.checkpoint == {"version": 1, "step": "x"}
    assert run.expires_at == 1_060.0
    shown = run.to_dict()
    assert "checkpoint" not in shown and "owner" not in shown and shown["code"] == "import socket\n"
    assert runs.get("run_1", "key:b") is None and runs.get("nope") is None
    assert [r.id for r in runs.list_pending("key:a")] == ["run_1"] and runs.list_pending("key:b") == []


def test_approve_claims_once_then_finish(runs: PendingRuns) -> None:
    paused(runs)
    claimed = runs.approve("run_1", "ops", "session", owner="key:a")
    assert claimed.status == "running" and claimed.decision == "approve" and claimed.scope == "session"
    with pytest.raises(PendingRunConflictError, match="is running, not awaiting approval"):
        runs.approve("run_1", "ops", owner="key:a")
    with pytest.raises(PendingRunConflictError):
        runs.reject("run_1", "ops", "no", owner="key:a")
    done = runs.finish("run_1", {"success": True})
    assert done.status == "done" and done.result == {"success": True} and done.checkpoint == {}
    with pytest.raises(PendingRunConflictError, match="approved by ops"):
        runs.approve("run_1", "ops", owner="key:a")


def test_reject_keeps_the_reason_for_the_model(runs: PendingRuns) -> None:
    paused(runs)
    claimed = runs.reject("run_1", "ops", "no sockets", owner="key:a")
    assert claimed.decision == "reject" and claimed.feedback == "no sockets" and claimed.decided_by == "ops"


def test_a_resumed_run_can_pause_again_or_fail(runs: PendingRuns) -> None:
    paused(runs)
    runs.approve("run_1", "ops")
    again = runs.repause("run_1", ask=Ask("import os\n", "sha256:bb", (), "high", "subprocess os.system", "r"),
                         checkpoint={"version": 1, "step": "y"}, ttl_s=60)
    assert again.status == "awaiting_approval" and again.revision == 2 and again.code_hash == "sha256:bb"
    assert again.decision is None and again.decided_by is None
    with pytest.raises(PendingRunConflictError, match="now asks about other code"):
        runs.approve("run_1", "ops", code_hash="sha256:aa")  # an answer meant for the first pause
    runs.approve("run_1", "ops", code_hash="sha256:bb")
    failed = runs.fail("run_1", "ModelError: the model went away")
    assert failed.status == "failed" and failed.error == "ModelError: the model went away"
    with pytest.raises(PendingRunConflictError):
        runs.finish("run_1", {})  # only a claimed (running) run can end


def test_unknown_other_owner_and_bad_scope(runs: PendingRuns) -> None:
    paused(runs)
    with pytest.raises(PendingRunNotFoundError):
        runs.approve("run_1", "ops", owner="key:b")
    with pytest.raises(PendingRunNotFoundError):
        runs.approve("run_404", "ops")
    with pytest.raises(BadInputError, match="approval scope 'forever' is invalid"):
        runs.approve("run_1", "ops", "forever")  # type: ignore[arg-type]


def test_expiry(runs: PendingRuns) -> None:
    paused(runs)
    runs._clock.now = 1_060.0  # type: ignore[attr-defined]
    with pytest.raises(PendingRunExpiredError, match="expired"):
        runs.approve("run_1", "ops")
    run = runs.get("run_1")
    assert run is not None and run.status == "expired" and run.checkpoint == {}
    assert runs.list_pending() == []


def test_of_many_concurrent_claims_exactly_one_wins(tmp_path: Path) -> None:
    """Each claimant has its own connection to the file, as separate server processes would."""
    paused(PendingRuns(SQLiteReviewStore(tmp_path / "nativa.db")))
    claimants = [PendingRuns(SQLiteReviewStore(tmp_path / "nativa.db")) for _ in range(8)]
    start = threading.Barrier(len(claimants))
    won: list[str] = []
    lost: list[str] = []

    def claim(i: int, runs: PendingRuns) -> None:
        start.wait()
        try:
            runs.approve("run_1", f"ops{i}")
            won.append(f"ops{i}")
        except PendingRunConflictError:
            lost.append(f"ops{i}")

    threads = [threading.Thread(target=claim, args=(i, r)) for i, r in enumerate(claimants)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(won) == 1 and len(lost) == 7


def test_the_session_store_opens_a_file_review_created_first(tmp_path: Path) -> None:
    assert APPLICATION_ID == MEMORY_APPLICATION_ID
    home = tmp_path / "home"
    SQLiteReviewStore(home / "nativa.db").close()
    memory = open_memory(Settings(home=home, embedder="none"))
    assert memory.session("s", create=True).name == "s"
    with SQLiteReviewStore(home / "nativa.db") as store:  # and review opens it again, tables intact
        paused(PendingRuns(store))
