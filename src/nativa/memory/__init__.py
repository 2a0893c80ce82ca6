"""What nativa keeps between processes: sessions that survive restarts, long-term memories recalled by
meaning, and a context builder that fits both into a model's token budget.

    from nativa.memory import open_memory, build_context
    memory = open_memory(settings)          # SQLite at $NATIVA_HOME/nativa.db, or NATIVA_MEMORY_URL
    session = memory.session("work", create=True)
    context = build_context(session, "what did I say about the deploy?", model=model, memory=memory)

Backends: SQLite (WAL, sqlite-vec) by default, PostgreSQL + pgvector by URL; both pass one conformance
suite. The default embedder (all-MiniLM-L6-v2) needs the `memory` extra.
"""

from nativa.memory.memory import Memory, open_memory
from nativa.memory.types import (
    AgentRun,
    Embedder,
    MemoryItem,
    NewMemory,
    Recall,
    Session,
    SessionStore,
    StoredMessage,
    Summary,
    VectorStore,
)

__all__ = [
    "AgentRun",
    "Embedder",
    "Memory",
    "MemoryItem",
    "NewMemory",
    "Recall",
    "Session",
    "SessionStore",
    "StoredMessage",
    "Summary",
    "VectorStore",
    "open_memory",
]
