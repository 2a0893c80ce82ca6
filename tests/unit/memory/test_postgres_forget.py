"""Forget on PostgreSQL: after `compact()` (VACUUM FULL) the forgotten text is in none of the table or index
files of nativa's schema. (PostgreSQL's write-ahead log keeps old records until it recycles its segments;
that is the server's own retention, outside the tables.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.embedder import WordHashEmbedder
from support.postgres_vector import fresh_database

from nativa.config import Settings
from nativa.memory import open_memory

pytestmark = pytest.mark.integration
SECRET = "okapi-lantern-5521 is the alarm code"


def _table_bytes(memory: Any, pgdata: Path) -> bytes:
    conn = memory.vectors.db.conn
    conn.execute("CHECKPOINT")  # write what is in shared buffers to the relation files
    rows = conn.execute("SELECT pg_relation_filepath(c.oid) FROM pg_class c WHERE c.relnamespace = "
                        "'nativa'::regnamespace AND pg_relation_filepath(c.oid) IS NOT NULL").fetchall()
    out = b""
    for (rel,) in rows:
        for part in pgdata.glob(rel + "*"):  # the main fork, its segments and the other forks
            out += part.read_bytes()
    return out


def test_forget_then_compact_leaves_no_trace_in_the_table_files(pg_server: Any, tmp_path: Path) -> None:
    memory = open_memory(Settings(home=tmp_path, memory_url=fresh_database(pg_server)), embedder=WordHashEmbedder())
    try:
        memory.session("private", create=True)
        memory.add_turn("private", [("user", SECRET), ("assistant", "kept safe")])
        item = memory.remember(SECRET, namespace="secrets")
        memory.remember("the plants need water on sundays")
        pgdata = Path(pg_server.pgdata)
        assert SECRET.encode() in _table_bytes(memory, pgdata)  # visible while remembered
        memory.forget(item.id)
        memory.forget(session="private")
        memory.compact()
        raw = _table_bytes(memory, pgdata)
        assert b"okapi-lantern-5521" not in raw and b"kept safe" not in raw
        assert b"the plants need water on sundays" in raw
    finally:
        memory.close()
