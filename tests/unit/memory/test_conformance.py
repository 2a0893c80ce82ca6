"""The contract every memory backend honours (SQLite + sqlite-vec, PostgreSQL + pgvector): one suite, run on
each. Like LangGraph's checkpoint-conformance, a new backend is done when this file passes on it."""

from __future__ import annotations

import time

import pytest
from support.embedder import WordHashEmbedder

from nativa.errors import BadInputError, DimensionMismatchError, MemoryNotFoundError, SessionNotFoundError
from nativa.memory import Memory

from .conftest import MakeMemory


def test_sessions_are_created_once_found_by_name_and_listed_newest_first(make_memory: MakeMemory) -> None:
    memory = make_memory()
    first = memory.session("alpha", create=True, metadata={"purpose": "test"})
    assert memory.session("alpha", create=True).id == first.id  # idempotent
    memory.session("beta", create=True)
    memory.add_turn("alpha", [("user", "hello"), ("assistant", "hi")])
    names = [s.name for s in memory.list_sessions()]
    assert names == ["alpha", "beta"]  # alpha was updated last
    alpha = memory.session("alpha")
    assert alpha.message_count == 2 and alpha.metadata == {"purpose": "test"}
    with pytest.raises(SessionNotFoundError, match="no session named 'gamma'"):
        memory.session("gamma")
    with pytest.raises(BadInputError, match="session name"):
        memory.session("  ", create=True)


def test_messages_keep_their_order_roles_and_token_counts(make_memory: MakeMemory) -> None:
    memory = make_memory()
    memory.session("s", create=True)
    memory.add_turn("s", [("user", "one two three"), ("assistant", "four")], count_tokens=lambda t: len(t))
    memory.add_turn("s", [("user", "five"), ("assistant", "six")])
    messages = memory.messages("s")
    assert [(m.role, m.content) for m in messages] == [("user", "one two three"), ("assistant", "four"),
                                                       ("user", "five"), ("assistant", "six")]
    assert messages[0].tokens == len("one two three") and messages[2].tokens == 1
    assert [m.content for m in memory.messages("s", after_id=messages[1].id)] == ["five", "six"]
    assert [m.content for m in memory.messages("s", limit=1)] == ["six"]


def test_agent_runs_round_trip_their_json_result(make_memory: MakeMemory) -> None:
    memory = make_memory()
    memory.session("s", create=True)
    result = {"success": True, "code": "print(1)", "attempts": [{"number": 1, "outcome": "passed"}]}
    memory.record_run("s", "code", "print one", result, "ab" * 16)
    (run,) = memory.runs("s")
    assert run.kind == "code" and run.task == "print one" and run.result == result and run.trace_id == "ab" * 16


def test_summaries_supersede_each_other(make_memory: MakeMemory) -> None:
    memory = make_memory()
    session = memory.session("s", create=True)
    assert memory.sessions.latest_summary(session) is None
    memory.sessions.add_summary(session, 4, "first summary", 2)
    memory.sessions.add_summary(session, 9, "second summary", 2)
    latest = memory.sessions.latest_summary(session)
    assert latest is not None and latest.content == "second summary" and latest.upto_message_id == 9


def test_recall_ranks_by_meaning_with_scores_and_filters(make_memory: MakeMemory) -> None:
    memory = make_memory()
    memory.session("trip", create=True)
    memory.remember("the dog is called biscuit", metadata={"source": "chat"})
    memory.remember("the train leaves from platform nine", session="trip")
    memory.remember("the dog sleeps in the kitchen", namespace="house")
    hits = memory.recall("what is the dog called", k=2)
    assert hits[0].item.text == "the dog is called biscuit"
    assert hits[0].score > hits[1].score and -1.0 <= hits[1].score <= 1.0
    assert hits[0].item.metadata == {"source": "chat"} and hits[0].item.namespace == "default"
    assert [h.item.text for h in memory.recall("dog", namespace="house")] == ["the dog sleeps in the kitchen"]
    in_trip = memory.recall("dog train", session="trip")
    assert [h.item.text for h in in_trip] == ["the train leaves from platform nine"]
    assert in_trip[0].item.session == "trip"
    assert memory.recall("dog", min_score=0.99) == []
    assert memory.recall("anything", namespace="empty") == []


def test_owners_never_see_each_others_sessions_or_memories(make_memory: MakeMemory) -> None:
    base = make_memory()
    alice, bob = base.for_owner("alice"), base.for_owner("bob")
    alice.session("shared-name", create=True)
    alice.remember("alice keeps the key under the mat")
    assert bob.list_sessions() == [] and bob.recall("key under the mat") == []
    bob.remember("bob keeps a spare key in the car")  # the same namespace name, bob's own
    assert [h.item.text for h in bob.recall("key under the mat", k=5)] == ["bob keeps a spare key in the car"]
    with pytest.raises(SessionNotFoundError):
        bob.session("shared-name")
    bob.session("shared-name", create=True)  # the same name is a different session for bob
    assert bob.forget(session="shared-name") == 0
    assert [s.name for s in alice.list_sessions()] == ["shared-name"]
    with pytest.raises(MemoryNotFoundError):
        bob.forget(alice.list_memories()[0].id)
    assert len(alice.list_memories()) == 1


def test_ttl_expired_memories_are_not_recalled_listed_or_kept(make_memory: MakeMemory) -> None:
    memory = make_memory()
    memory.remember("a fleeting thought about tea", ttl_s=0.2)
    memory.remember("a lasting thought about tea")
    time.sleep(0.3)
    assert [h.item.text for h in memory.recall("thought about tea")] == ["a lasting thought about tea"]
    assert [m.text for m in memory.list_memories()] == ["a lasting thought about tea"]
    memory.remember("another lasting thought")  # a write purges what expired
    assert memory.vectors.count(owner="", namespace="default") == 2
    with pytest.raises(BadInputError, match="ttl_s"):
        memory.remember("x", ttl_s=-1)


def test_the_cap_per_namespace_evicts_the_oldest_first(make_memory: MakeMemory) -> None:
    memory = make_memory(memory_max_items=3)
    for i in range(5):
        memory.remember(f"fact number {i}")
    memory.remember("other namespace fact", namespace="other")
    assert [m.text for m in memory.list_memories(namespace="default")] == ["fact number 4", "fact number 3",
                                                                          "fact number 2"]
    assert memory.vectors.count(owner="", namespace="other") == 1
    assert len(memory.recall("fact number", k=10)) == 3


def test_forget_by_id_namespace_age_and_session(make_memory: MakeMemory) -> None:
    memory = make_memory()
    memory.session("s", create=True)
    keep = memory.remember("keep this one")
    gone = memory.remember("forget this one")
    memory.remember("scratch note", namespace="scratch")
    memory.add_turn("s", [("user", "session words"), ("assistant", "reply")])
    assert memory.forget(gone.id) == 1
    with pytest.raises(MemoryNotFoundError, match=f"no memory with id {gone.id}"):
        memory.forget(gone.id)
    assert memory.forget(namespace="scratch") == 1
    assert memory.forget(older_than_s=3600) == 0
    removed = memory.forget(session="s")  # its memory (the user's words) and its 2 messages
    assert removed == 3
    with pytest.raises(SessionNotFoundError):
        memory.session("s")
    assert [m.text for m in memory.list_memories()] == ["keep this one"] and keep.text == "keep this one"
    with pytest.raises(BadInputError, match="needs something to forget"):
        memory.forget()
    memory.compact()
    assert [h.item.text for h in memory.recall("keep this one")] == ["keep this one"]


def test_a_namespace_refuses_vectors_of_another_embedder(make_memory: MakeMemory) -> None:
    make_memory().remember("written with 64 dimensions")
    other_dim = make_memory(embedder=WordHashEmbedder(dim=32))
    with pytest.raises(DimensionMismatchError, match="64-dimensional vectors of embedder 'test-words'"):
        other_dim.remember("written with 32")
    with pytest.raises(DimensionMismatchError):
        other_dim.recall("anything")
    other_model = make_memory(embedder=WordHashEmbedder(dim=64, name="another-model"))
    with pytest.raises(DimensionMismatchError, match="another-model"):
        other_model.remember("same size, other meaning")
    assert other_dim.remember("fine elsewhere", namespace="small").namespace == "small"


def test_everything_survives_closing_and_reopening(make_memory: MakeMemory) -> None:
    first = make_memory()
    first.session("s", create=True)
    first.add_turn("s", [("user", "the meeting moved to friday"), ("assistant", "noted")])
    first.record_run("s", "run", "how many rows", {"answer": "5"}, None)
    first.close()
    again: Memory = make_memory()
    assert [m.content for m in again.messages("s")] == ["the meeting moved to friday", "noted"]
    assert again.runs("s")[0].result == {"answer": "5"}
    assert again.recall("when is the meeting")[0].item.text == "the meeting moved to friday"
