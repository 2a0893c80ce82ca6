"""The llama.cpp side of the batched decoder: one context with a KV stream per sequence, one `llama_batch`,
and a llama.cpp sampler chain per sequence.

The context shares the loaded model's weights (a second context costs only its KV cache and compute
buffers). Its KV cache is *not* unified: each sequence owns a stream of `seq_ctx` cells at positions
0, 1, 2, ... exactly as a lone sequence would, so attention sums run over the same cells in the same order
and a sequence's logits do not depend on what else shares the step (measured: bit-identical to the
single-sequence path while a step carries at most 3 sequences; see docs/benchmarks.md). A unified cache
interleaves the sequences' cells and changed greedy answers from the second sequence on.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import numpy as np

from nativa.errors import BatchCapacityError, ModelError

# The same sampler chain llama-cpp-python's `Llama.generate` builds for nativa's single-sequence path
# (top_k 40, typical 1.0, top_p 0.95, min_p 0.05, then temperature and a seeded draw), so that a sample
# drawn in a batch with seed s is the one `LocalModel.complete` draws with seed s.
TOP_K, TOP_P, MIN_P, TYPICAL_P = 40, 0.95, 0.05, 1.0
_U32 = 0xFFFFFFFF
_TOKEN_DATA = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)


class LlamaSampler:
    """One sequence's llama.cpp sampler chain (grammar first when constrained, as in `Llama.generate`)."""

    def __init__(self, backend: LlamaBatchBackend, temperature: float, seed: int | None, grammar: Any) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._ctx = backend.ctx
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        if grammar is not None:
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_grammar(
                backend.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")))
        if temperature == 0.0:
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
        else:
            for sampler in (llama_cpp.llama_sampler_init_top_k(TOP_K),
                            llama_cpp.llama_sampler_init_typical(TYPICAL_P, 1),
                            llama_cpp.llama_sampler_init_top_p(TOP_P, 1),
                            llama_cpp.llama_sampler_init_min_p(MIN_P, 1),
                            llama_cpp.llama_sampler_init_temp(temperature),
                            llama_cpp.llama_sampler_init_dist(
                                llama_cpp.LLAMA_DEFAULT_SEED if seed is None else seed & _U32)):
                llama_cpp.llama_sampler_chain_add(chain, sampler)
        self._chain: Any = chain

    def sample(self, row: int) -> int:
        """Draw from the logits of batch row `row` (-1: the last row with logits) and accept the token."""
        return int(self._lib.llama_sampler_sample(self._chain, self._ctx, row))

    def sample_from(self, logits: np.ndarray) -> int:
        """Draw from saved logits exactly as `sample` would from live ones (what llama_sampler_sample does)."""
        lib = self._lib
        data = np.zeros(len(logits), dtype=_TOKEN_DATA)
        data["id"] = np.arange(len(logits), dtype=np.intc)
        data["logit"] = logits
        array = lib.llama_token_data_array(data=data.ctypes.data_as(lib.llama_token_data_p), size=len(logits),
                                           selected=-1, sorted=False)
        lib.llama_sampler_apply(self._chain, ctypes.byref(array))
        token = int(data["id"][array.selected])
        lib.llama_sampler_accept(self._chain, token)
        return token

    def close(self) -> None:
        """Free the llama.cpp sampler chain (again is harmless)."""
        if self._chain is not None:
            self._lib.llama_sampler_free(self._chain)
            self._chain = None


class LlamaBatchBackend:
    """`DecodeBackend` on llama-cpp-python's low-level API; used from the engine's thread only."""

    def __init__(self, llm: Any, *, n_seq: int, seq_ctx: int, n_threads: int) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self._lib = llama_cpp
        self._llm = llm
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_seq * seq_ctx
        params.n_seq_max = n_seq
        params.kv_unified = False
        # the single-sequence context's batch shape, so that a prompt is evaluated in the same chunks
        params.n_batch = params.n_ubatch = llm.n_batch
        params.n_threads = params.n_threads_batch = n_threads
        params.flash_attn_type = llm.context_params.flash_attn_type
        try:
            self._context = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        except ValueError as exc:
            raise ModelError(f"llama.cpp could not create a {n_seq}-sequence context of {seq_ctx} tokens "
                             f"each ({exc}); lower NATIVA_MAX_BATCH or NATIVA_BATCH_N_CTX") from None
        self.ctx = self._context.ctx
        self._memory = self._context.memory
        self.vocab = llm._model.vocab
        self.n_seq = n_seq
        self.seq_ctx = int(llama_cpp.llama_n_ctx_seq(self.ctx))
        self._n_batch = int(llm.n_batch)
        self._n_vocab = int(llm.n_vocab())
        self._batch: Any = llama_cpp.llama_batch_init(max(self._n_batch, n_seq), 0, 1)

    def _fill(self, rows: Sequence[tuple[int, int, int, bool]]) -> None:
        batch = self._batch
        batch.n_tokens = len(rows)
        for i, (seq, token, pos, logits) in enumerate(rows):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits

    def _decode(self, what: str) -> None:
        rc = self._lib.llama_decode(self.ctx, self._batch)
        if rc == 1:
            raise BatchCapacityError(f"the batched KV cache has no room for {what}; retry shortly")
        if rc != 0:
            raise ModelError(f"llama_decode failed with code {rc} while decoding {what}")

    def eval_prompt(self, seq: int, tokens: Sequence[int], start: int) -> None:
        """Evaluate `tokens[start:]` at positions start.. in n_batch chunks, logits for each chunk's last."""
        for begin in range(start, len(tokens), self._n_batch):
            chunk = tokens[begin:begin + self._n_batch]
            last = len(chunk) - 1
            self._fill([(seq, t, begin + i, i == last) for i, t in enumerate(chunk)])
            self._decode(f"a {len(tokens)}-token prompt")

    def decode(self, rows: Sequence[tuple[int, int, int]]) -> None:
        """One llama_decode for one token of each sequence, (seq, token, position), logits for every row."""
        self._fill([(seq, token, pos, True) for seq, token, pos in rows])
        self._decode(f"a step of {len(rows)} sequences")

    def last_logits(self) -> np.ndarray:
        """A copy of the logits of the last row decoded (a prompt's last token), to sample from later."""
        row = self._lib.llama_get_logits_ith(self.ctx, -1)
        return np.ctypeslib.as_array(row, shape=(self._n_vocab,)).copy()

    def keep(self, seq: int, n: int) -> None:
        """Drop `seq`'s cached positions from `n` on."""
        self._lib.llama_memory_seq_rm(self._memory, seq, n, -1)

    def copy(self, src: int, dst: int) -> None:
        """Share all of `src`'s cached positions with `dst`."""
        self._lib.llama_memory_seq_cp(self._memory, src, dst, -1, -1)

    def sampler(self, temperature: float, seed: int | None, grammar: Any) -> LlamaSampler:
        """A llama.cpp sampler chain for one sequence."""
        return LlamaSampler(self, temperature, seed, grammar)

    def is_eog(self, token: int) -> bool:
        """Whether the vocabulary marks `token` as an end of generation."""
        return bool(self._lib.llama_vocab_is_eog(self.vocab, token))

    def piece(self, token: int) -> bytes:
        """The token's bytes, by the single-sequence path's detokenizer, so both paths give the same text."""
        data: bytes = self._llm.detokenize([token])  # the single-sequence path's own detokenizer
        return data

    def close(self) -> None:
        """Free the batch and close the context (the model stays loaded)."""
        if self._batch is not None:
            self._lib.llama_batch_free(self._batch)
            self._batch = None
        self._context.close()

