"""The host's batching ceiling: tokens/s of one decode call that evaluates n positions of one sequence.

That is the best llama.cpp can do here for n tokens per step (the weights are read once for all n, no
scheduling, no sampling, no Python per sequence), so every batching figure is read against it, measured
in the same run on the same loaded model. On some hosts a step of 4 positions gives 5x the tokens/s of one;
on others barely more than 1x: the ratio to this ceiling is what says whether nativa's batching is good.
"""

from __future__ import annotations

import time
from typing import Any

PROMPT_TOKENS = 64  # positions already in the cache when the n positions are evaluated, like a short prompt


def decode_ceiling(llm: Any, n: int, *, steps: int = 8) -> float:
    """Tokens/s of `steps` decode calls of n positions each (logits for every position), on `llm`'s own
    context; the context is cleared afterwards (the next generation evaluates its prompt again)."""
    import llama_cpp

    ctx = llm._ctx.ctx
    memory = llama_cpp.llama_get_memory(ctx)
    vocab = llm.n_vocab()
    filler = [(7 + 13 * i) % vocab for i in range(PROMPT_TOKENS + n * steps)]
    batch = llama_cpp.llama_batch_init(max(PROMPT_TOKENS, n), 0, 1)
    try:
        llama_cpp.llama_memory_clear(memory, True)
        _decode(llama_cpp, ctx, batch, filler[:PROMPT_TOKENS], 0, logits_all=False)
        began = time.perf_counter()
        for s in range(steps):
            start = PROMPT_TOKENS + s * n
            _decode(llama_cpp, ctx, batch, filler[start:start + n], start, logits_all=True)
        elapsed = time.perf_counter() - began
    finally:
        llama_cpp.llama_memory_clear(memory, True)
        llama_cpp.llama_batch_free(batch)
        llm.reset()
    return n * steps / elapsed


def _decode(lib: Any, ctx: Any, batch: Any, tokens: list[int], pos: int, *, logits_all: bool) -> None:
    batch.n_tokens = len(tokens)
    for i, token in enumerate(tokens):
        batch.token[i] = token
        batch.pos[i] = pos + i
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = 0
        batch.logits[i] = logits_all or i == len(tokens) - 1
    rc = lib.llama_decode(ctx, batch)
    if rc != 0:
        raise RuntimeError(f"llama_decode returned {rc} while measuring the ceiling")
