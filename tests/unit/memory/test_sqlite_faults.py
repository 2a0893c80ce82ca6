"""The SQLite file under faults: provable forget in the raw bytes, a real kill -9 mid-burst, two processes
writing at once, restart survival across processes, and files that are corrupt, foreign or too new."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from support.embedder import WordHashEmbedder

from nativa.config import Settings
from nativa.errors import MemoryFileError
from nativa.memory import Memory, open_memory

ROOT = Path(__file__).resolve().parents[3]
SECRET = "zebra-quartz-7781 is the vault password"


def _open(path: Path) -> Memory:
    return open_memory(Settings(home=path.parent / "home", memory_url=str(path)), embedder=WordHashEmbedder())


def _disk_bytes(path: Path) -> bytes:
    """The database file and its WAL and shared-memory files, as they lie on disk."""
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


def _child(script: str, *args: str) -> subprocess.Popen[str]:
    head = f"import sys\nsys.path[:0] = [{str(ROOT / 'src')!r}, {str(ROOT / 'tests')!r}]\n"
    code = head + textwrap.dedent(script)
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


OPEN_IN_CHILD = """
    from pathlib import Path
    from support.embedder import WordHashEmbedder
    from nativa.config import Settings
    from nativa.memory import open_memory
    path = Path(sys.argv[1])
    memory = open_memory(Settings(home=path.parent / "home", memory_url=str(path)), embedder=WordHashEmbedder())
"""


def test_forget_then_compact_leaves_no_trace_of_text_or_embedding_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nativa.db"
    memory = _open(path)
    memory.session("private", create=True)
    memory.add_turn("private", [("user", f"remember: {SECRET}"), ("assistant", "I will keep it safe")])
    item = memory.remember(SECRET, namespace="secrets")
    memory.remember("the weather was fine on tuesday")
    vector = np.asarray(WordHashEmbedder().embed([SECRET])[0], dtype=np.float32).tobytes()
    memory.compact()
    raw = _disk_bytes(path)
    assert SECRET.encode() in raw and vector in raw  # the test can see them while they are remembered

    assert memory.forget(item.id) == 1
    assert memory.forget(session="private") == 3  # the user's message became a memory too
    memory.compact()
    raw = _disk_bytes(path)
    assert b"zebra-quartz-7781" not in raw, "forgotten text is still in the database bytes"
    assert vector not in raw, "a forgotten embedding is still in the database bytes"
    assert b"I will keep it safe" not in raw
    assert b"the weather was fine on tuesday" in raw  # compaction kept what was not forgotten
    assert [h.item.text for h in memory.recall("weather tuesday")] == ["the weather was fine on tuesday"]


def test_kill_minus_9_mid_burst_loses_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "nativa.db"
    _open(path).close()
    writer = _child(OPEN_IN_CHILD + """
    session = memory.session("burst", create=True)
    i = 0
    while True:
        stored = memory.add_turn(session, [("user", f"note {i}"), ("assistant", f"ack {i}")])
        print(stored[-1].id, flush=True)  # printed only after the commit returned
        i += 1
    """, str(path))
    committed: list[int] = []
    assert writer.stdout is not None
    while len(committed) < 60:
        line = writer.stdout.readline()
        assert line, f"the writer died early: {writer.stderr.read() if writer.stderr else ''}"
        committed.append(int(line))
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert writer.returncode == -signal.SIGKILL

    memory = _open(path)
    ids = {m.id for m in memory.messages("burst")}
    assert set(committed) <= ids, "a committed turn was lost"
    assert len(ids) % 2 == 0, "a turn was stored half (question without answer)"
    check = sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0]
    assert check == "ok"
    memory.add_turn("burst", [("user", "after the crash"), ("assistant", "still writable")])
    assert memory.messages("burst", limit=1)[0].content == "still writable"


def test_two_processes_writing_at_once_both_succeed(tmp_path: Path) -> None:
    path = tmp_path / "nativa.db"
    _open(path).close()
    script = OPEN_IN_CHILD + """
    session = memory.session("shared", create=True)
    for i in range(150):
        memory.add_turn(session, [("user", f"{sys.argv[2]} says {i}")])
        if i % 10 == 0:
            memory.remember(f"{sys.argv[2]} fact {i}")
    print("done", flush=True)
    """
    writers = [_child(script, str(path), name) for name in ("left", "right")]
    outputs = [w.communicate(timeout=240) for w in writers]
    for w, (out, err) in zip(writers, outputs, strict=True):
        assert w.returncode == 0 and out.strip() == "done", err[-2000:]
        assert "locked" not in err
    memory = _open(path)
    contents = [m.content for m in memory.messages("shared")]
    assert len(contents) == 300
    for name in ("left", "right"):  # each writer's own order is kept
        mine = [c for c in contents if c.startswith(name)]
        assert mine == [f"{name} says {i}" for i in range(150)]
    assert len(memory.list_memories(limit=1000)) == 30 + 300  # the facts and every user message


def test_a_session_written_by_one_process_is_read_by_another(tmp_path: Path) -> None:
    path = tmp_path / "nativa.db"
    writer = _child(OPEN_IN_CHILD + """
    memory.session("handover", create=True)
    memory.add_turn("handover", [("user", "the release is on the ninth"), ("assistant", "noted")])
    """, str(path))
    assert writer.wait(timeout=120) == 0, writer.stderr.read() if writer.stderr else ""
    reader = _child(OPEN_IN_CHILD + """
    print(memory.messages("handover")[0].content)
    print(memory.recall("when is the release")[0].item.text)
    """, str(path))
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    assert out.splitlines() == ["the release is on the ninth", "the release is on the ninth"]


def test_a_corrupt_file_is_refused_by_name_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "nativa.db"
    junk = b"this is not a database at all " * 200
    path.write_bytes(junk)
    with pytest.raises(MemoryFileError, match=f"{path} is not a usable nativa memory database"):
        _open(path)
    assert path.read_bytes() == junk


def test_a_damaged_nativa_file_is_refused_not_reset(tmp_path: Path) -> None:
    path = tmp_path / "nativa.db"
    memory = _open(path)
    memory.session("s", create=True)
    for i in range(200):
        memory.remember(f"fact {i} " + "padding " * 40)
    memory.compact()
    memory.close()
    good = path.read_bytes()
    data = bytearray(good)
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page, after the 100-byte header
    path.write_bytes(bytes(data))
    with pytest.raises(MemoryFileError, match=f"{path} is not a usable nativa memory database"):
        _open(path).list_memories()
    assert path.read_bytes() == bytes(data)
    path.write_bytes(good[: len(good) // 3])  # a file cut short
    with pytest.raises(MemoryFileError, match=str(path)):
        _open(path).list_memories(limit=1000)


def test_a_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(MemoryFileError, match=f"{path} is a SQLite database of another program"):
        _open(path)
    assert path.read_bytes() == before


def test_a_file_from_a_newer_nativa_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nativa.db"
    _open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(MemoryFileError, match="schema version 99, newer than this nativa knows"):
        _open(path)


def test_opening_migrates_a_new_file_to_the_current_schema(tmp_path: Path) -> None:
    from nativa.memory._sqlite import APPLICATION_ID, SCHEMA_VERSION

    path = tmp_path / "fresh.db"
    _open(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"sessions", "messages", "runs", "summaries", "namespaces", "memories"} <= tables
