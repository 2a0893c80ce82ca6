"""The audit log: append-only, hash-chained, and `verify` names each edited, removed or moved entry."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from nativa.errors import AuditError, BadInputError
from nativa.review.audit import GENESIS, AuditLog, AuditStore, MemoryAuditStore, entry_hash
from nativa.review.findings import Finding
from nativa.review.store import SQLiteReviewStore

FINDING = Finding("network", "high", 2, "imports socket: uses the network", "socket")


def _fill(log: AuditLog, n: int = 4) -> None:
    for i in range(n):
        log.record(who="ana" if i % 2 else "bo", session=f"s{i % 2}", subject="code", scope="once",
                   code_hash=f"sha256:{i:064x}", verdict="approved", approved=True, max_risk="high",
                   findings=[FINDING], reason=f"approved {i}")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditStore]:
    """Every AuditStore runs the same chain tests."""
    if request.param == "memory":
        yield MemoryAuditStore()
    else:
        with SQLiteReviewStore(tmp_path / "nativa.db") as sqlite:
            yield sqlite


def test_entries_chain_to_the_one_before(store: AuditStore) -> None:
    log = AuditLog(store)
    _fill(log)
    entries = log.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4] and entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert all(entry_hash(e.payload()) == e.hash for e in entries)
    assert entries[1].who == "ana" and entries[1].findings == (FINDING,) and entries[1].scope == "once"
    assert [e.seq for e in log.entries("s1")] == [2, 4]
    report = log.verify()
    assert report.ok and report.entries == 4 and not report.problems


# -- tampering, done the way someone with the file would: with sqlite3, around the triggers ---------------

@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[AuditLog, sqlite3.Connection]]:
    path = tmp_path / "nativa.db"
    with SQLiteReviewStore(path) as store:
        log = AuditLog(store)
        _fill(log)
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("DROP TRIGGER review_audit_no_update")
        raw.execute("DROP TRIGGER review_audit_no_delete")
        yield log, raw
        raw.close()


def _kinds(log: AuditLog) -> list[tuple[int, str]]:
    report = log.verify()
    assert not report.ok
    return [(p.seq, p.kind) for p in report.problems]


def test_verify_detects_an_edited_entry(db: tuple[AuditLog, sqlite3.Connection]) -> None:
    log, raw = db
    raw.execute("UPDATE review_audit SET verdict = 'rejected', approved = 0 WHERE seq = 2")
    assert _kinds(log) == [(2, "edited")]


def test_verify_detects_an_edit_even_when_its_hash_was_recomputed(db: tuple[AuditLog, sqlite3.Connection]) -> None:
    log, raw = db
    forged = log.entries()[1]
    payload = forged.payload() | {"who": "mallory"}
    raw.execute("UPDATE review_audit SET who = 'mallory', hash = ? WHERE seq = 2", (entry_hash(payload),))
    assert _kinds(log) == [(3, "edited")]


def test_verify_detects_a_removed_entry(db: tuple[AuditLog, sqlite3.Connection]) -> None:
    log, raw = db
    raw.execute("DELETE FROM review_audit WHERE seq = 2")
    assert _kinds(log) == [(3, "removed")]


def test_verify_detects_entries_removed_at_the_end_even_after_more_were_added(
        db: tuple[AuditLog, sqlite3.Connection]) -> None:
    log, raw = db
    raw.execute("DELETE FROM review_audit WHERE seq = 4")
    assert _kinds(log) == [(4, "removed")]
    _fill(log, 1)  # the next entry chains to the head (entry 4), so the gap stays visible
    assert _kinds(log) == [(5, "removed")]


def test_verify_detects_reordered_entries(db: tuple[AuditLog, sqlite3.Connection]) -> None:
    log, raw = db
    raw.execute("UPDATE review_audit SET seq = -1 WHERE seq = 2")
    raw.execute("UPDATE review_audit SET seq = 2 WHERE seq = 3")
    raw.execute("UPDATE review_audit SET seq = 3 WHERE seq = -1")
    kinds = _kinds(log)
    assert kinds[0] == (2, "reordered") and all(kind == "reordered" for _, kind in kinds)


def test_verify_detects_an_entry_added_outside_the_log(db: tuple[AuditLog, sqlite3.Connection]) -> None:
    log, raw = db
    last = log.entries()[-1]
    raw.execute("INSERT INTO review_audit SELECT seq + 1, at, who, session, subject, scope, code_hash, verdict, "
                "approved, max_risk, findings, reason, hash, hash FROM review_audit WHERE seq = ?", (last.seq,))
    assert (5, "forged") in _kinds(log)


def test_the_audit_table_refuses_updates_and_deletes(tmp_path: Path) -> None:
    path = tmp_path / "nativa.db"
    with SQLiteReviewStore(path) as store:
        _fill(AuditLog(store), 2)
    raw = sqlite3.connect(path)
    for statement in ("UPDATE review_audit SET who = 'x'", "DELETE FROM review_audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute(statement)
    raw.close()


def test_the_schema_is_namespaced_versioned_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nativa.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE sessions (id INTEGER PRIMARY KEY)")  # the session store's own table
    raw.execute("PRAGMA user_version = 7")
    raw.commit()
    with SQLiteReviewStore(path) as store:
        _fill(AuditLog(store), 1)
    with SQLiteReviewStore(path) as again:  # reopening migrates nothing twice
        assert len(AuditLog(again).entries()) == 1
    names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index', 'trigger') "
                                       "AND name NOT LIKE 'sqlite_%'")}
    assert {n for n in names if not n.startswith("review_")} == {"sessions"}
    assert raw.execute("SELECT value FROM review_meta WHERE key = 'schema_version'").fetchone() == ("1",)
    assert raw.execute("PRAGMA user_version").fetchone() == (7,)  # the file's owner keeps its own version
    assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    raw.execute("UPDATE review_meta SET value = '99' WHERE key = 'schema_version'")
    raw.commit()
    raw.close()
    with pytest.raises(AuditError, match="schema version 99, newer than this nativa reads"):
        SQLiteReviewStore(path)


def test_bad_database_paths_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="is a directory"):
        SQLiteReviewStore(tmp_path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(AuditError, match="cannot open the review database"):
        SQLiteReviewStore(junk)
