"""The embedded model: a GGUF file run in-process by llama-cpp-python.

Loading costs hundreds of milliseconds and hundreds of megabytes, so a model file is loaded lazily, once
per process, and shared by every `LocalModel` that points at it; concurrent first callers wait for the
same load. llama.cpp contexts are not thread-safe, so generation on one loaded model is serialised; the
batched decoder (`complete_many`, and the server's concurrent requests through `batch_stream`) runs on a
second context of the same weights, on its own thread (see `batch.py`).

We drive `Llama.generate` ourselves instead of `create_chat_completion` so that streaming and blocking
calls share one code path and report exact token counts (llama-cpp-python's streaming reports none).
"""

from __future__ import annotations

import atexit
import json
import os

# llama.cpp's OpenMP threads spin-wait by default; on a shared or oversubscribed machine (CI, a laptop
# running a server beside a test suite) that made a first prompt evaluation take 12 s instead of 0.6 s.
# Spinning only pays on a dedicated machine; OMP_WAIT_POLICY=active in the environment restores it.
# It must be set before llama.cpp (and with it libgomp) is first loaded, which is why it sits up here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nativa.errors import BadInputError, ModelError, SchemaError
from nativa.models._text import TextAssembler
from nativa.models.base import (
    TOP_LOGPROBS,
    Completion,
    Delta,
    GenerationOptions,
    Message,
    MessagesLike,
    TokenLogprob,
    as_messages,
    check_n,
    collect,
    with_seed,
)
from nativa.models.batch import BatchEngine, BatchTicket
from nativa.models.weights import ProgressFn, WeightsSpec, ensure

BATCH_SEQ_CTX = 4096  # default KV cells per batched sequence (NATIVA_BATCH_N_CTX sets the total instead)
_registry_lock = threading.Lock()
_loaded: dict[tuple[str, int, int], _Loaded] = {}


@atexit.register
def _close_all() -> None:
    """Free llama.cpp models before interpreter teardown; left to `__del__`, it prints a TypeError at exit."""
    with _registry_lock:
        for handle in _loaded.values():
            for engine in handle.engines.values():
                engine.close()  # its thread must stop decoding before the weights go
            handle.llm.close()
        _loaded.clear()


@dataclass
class _Loaded:
    """A loaded llama.cpp model and the lock that serialises its use."""

    llm: Any
    formatter: Any
    load_s: float
    parameters: int = 0  # as the GGUF file counts them, for models named by path (no spec to say)
    lock: threading.Lock = field(default_factory=threading.Lock)
    engines: dict[tuple[int, int], BatchEngine] = field(default_factory=dict)
    engines_lock: threading.Lock = field(default_factory=threading.Lock)

    def engine(self, name: str, n_seq: int, seq_ctx: int, n_threads: int) -> BatchEngine:
        """The batched decoder for this shape, created once; its llama.cpp context opens on first use."""
        with self.engines_lock:
            engine = self.engines.get((n_seq, seq_ctx))
            if engine is None:
                engine = BatchEngine(lambda: _open_backend(self.llm, n_seq, seq_ctx, n_threads), name=name,
                                     n_seq=n_seq, seq_ctx=seq_ctx)
                self.engines[(n_seq, seq_ctx)] = engine
            return engine


def _default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)))


class LocalModel:
    """An embedded GGUF model; `spec` assembles and verifies the file on first use."""

    provider = "llama.cpp"
    remote = False

    def __init__(
        self,
        *,
        name: str,
        spec: WeightsSpec | None = None,
        models_dir: Path | None = None,
        path: Path | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        progress: ProgressFn | None = None,
        max_batch: int = 4,
        batch_n_ctx: int | None = None,
    ) -> None:
        if spec is None and path is None:
            raise ValueError("LocalModel needs a weights spec or a GGUF path")
        if spec is not None and models_dir is None:
            raise ValueError("LocalModel with a weights spec needs models_dir")
        self.name = name
        self.spec = spec
        self.models_dir = models_dir
        self.path = path
        self.n_ctx = n_ctx
        self.n_threads = n_threads or _default_threads()
        self.progress = progress
        if max_batch < 1:
            raise BadInputError(f"max_batch must be >= 1, got {max_batch}")
        self.max_batch = max_batch
        # each batched sequence gets an equal share of the batched context; by default n_ctx, up to 4096
        # (KV per token: 12 KiB for the 0.5B, 28 KiB for the 1.5B, so 4 x 4096 cells = 192 / 448 MiB)
        self.batch_seq_ctx = batch_n_ctx // max_batch if batch_n_ctx else min(n_ctx, BATCH_SEQ_CTX)
        self._own_lock = threading.Lock()
        self._handle: _Loaded | None = None

    # -- loading ---------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory already (a first call pays the load)."""
        return self._handle is not None or self._key_if_known() in _loaded

    @property
    def parameters(self) -> int:
        """The parameter count a cost's compute multiplies tokens by: the spec's, or the file's once loaded.

        A model named by a GGUF path has no spec; before this its stages reported compute 0. The file's count
        includes every matrix it stores (the 0.5B file: 630 M, its published count 494 M, as the output matrix
        is stored beside the tied embedding), so it is the compute of that file, not the published figure."""
        if self.spec is not None and self.spec.parameters:
            return self.spec.parameters
        return self._handle.parameters if self._handle is not None else 0

    @property
    def load_s(self) -> float | None:
        """How long the load took, for `nativa bench model` and the server's start-up report."""
        return self._handle.load_s if self._handle else None

    def _key_if_known(self) -> tuple[str, int, int] | None:
        if self.path is None:
            return None
        return (str(self.path), self.n_ctx, self.n_threads)

    def load(self) -> None:
        """Load now rather than on the first call: servers preload so the first request is not the slow one.
        """
        self._get()

    @property
    def batch_running(self) -> int:
        """Sequences in this model's running batch right now (every caller's), for metrics and tests."""
        handle = self._handle
        engine = handle.engines.get((self.max_batch, self.batch_seq_ctx)) if handle is not None else None
        return engine.active if engine is not None else 0

    @property
    def batch_engine(self) -> BatchEngine:
        """The batched decoder this model's `complete_many` and `batch_stream` use (loads the model)."""
        return self._get().engine(self.name, self.max_batch, self.batch_seq_ctx, self.n_threads)

    def llama(self) -> Any:
        """The loaded llama-cpp-python `Llama`, for baselines that must call the library itself."""
        return self._get().llm

    def _get(self) -> _Loaded:
        if self._handle is not None:
            return self._handle
        with self._own_lock:
            if self._handle is not None:
                return self._handle
            if self.spec is not None and self.models_dir is not None:
                self.path = ensure(self.spec, self.models_dir, self.progress)
            assert self.path is not None
            key = (str(self.path), self.n_ctx, self.n_threads)
            with _registry_lock:
                handle = _loaded.get(key)
                if handle is None:
                    handle = _load(self.path, self.n_ctx, self.n_threads)
                    _loaded[key] = handle
            self._handle = handle
            return handle

    # -- tokens ------------------------------------------------------------------------------------
    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """The model's own token ids, so budgets and counts are exact rather than estimated."""
        return list(self._get().llm.tokenize(text.encode("utf-8"), add_bos=False, special=special))

    def count_tokens(self, text: str) -> int:
        """Exact token count with the model's tokenizer."""
        return len(self.tokenize(text))

    def prompt_tokens(self, messages: MessagesLike) -> list[int]:
        """The tokens the model sees for these messages: the chat template applied, special tokens parsed."""
        return self._prompt_tokens(self._get(), as_messages(messages))

    def format_prompt(self, messages: MessagesLike) -> str:
        """Apply the chat template stored in the GGUF file, as the model was trained to see it."""
        handle = self._get()
        return handle.formatter(messages=[m.to_dict() for m in as_messages(messages)]).prompt

    # -- generation --------------------------------------------------------------------------------
    def complete(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Completion:
        """The streamed path drained: blocking and streaming calls cannot disagree."""
        last: Completion | None = None
        for delta in self.stream(messages, options):
            if delta.completion is not None:
                last = delta.completion
        assert last is not None
        return last

    def complete_many(self, messages: MessagesLike, options: GenerationOptions | None = None,
                      n: int = 1, *, should_stop: Callable[[], bool] | None = None) -> list[Completion]:
        """n samples of one prompt, decoded together: the prompt is evaluated once, its KV cache copied to
        every sequence, and one `llama_decode` per step advances all of them (up to `max_batch` at a time).

        Sample i is drawn with seed `options.seed + i` at `options.temperature`. With temperature 0 all n
        are the greedy answer, so it is generated once and returned n times. A prompt whose token budget
        does not fit a batched sequence is drawn one sample after another instead. `should_stop` (the
        server's cancellation) is checked before every step; once it says stop, the draw's sequences leave
        the batch and a `ModelError` says the generation was cancelled.
        """
        check_n(n)
        opts = options or GenerationOptions()
        msgs = as_messages(messages)
        if n == 1 or opts.temperature == 0.0:
            first = collect(_stoppable(self.stream(msgs, opts), should_stop))
            return [first] + [replace(first) for _ in range(n - 1)]
        plan = self._batch_plan(msgs, opts)
        if plan is None:
            return [collect(_stoppable(self.stream(msgs, with_seed(opts, i)), should_stop)) for i in range(n)]
        engine, tokens, fitted, grammar = plan
        tickets: list[BatchTicket] = []
        try:
            for start in range(0, n, self.max_batch):
                tickets.append(engine.submit(tokens, with_seed(fitted, start), n=min(self.max_batch, n - start),
                                             grammar=grammar, should_stop=should_stop))
            return [c for ticket in tickets for c in ticket.result()]
        finally:
            for ticket in tickets:
                ticket.cancel()  # a no-op for finished ones; frees the rest when one failed

    def batch_stream(self, messages: MessagesLike, options: GenerationOptions | None = None, *,
                     should_stop: Callable[[], bool] | None = None) -> Iterator[Delta]:
        """`stream`, but as one sequence of the running batch, so concurrent callers share decode steps
        (the server's path); `should_stop` is checked before every step. Falls back to `stream` when the
        batch has one sequence or the request's token budget does not fit a batched sequence."""
        opts = options or GenerationOptions()
        msgs = as_messages(messages)
        plan = self._batch_plan(msgs, opts)
        if plan is None:
            yield from self.stream(msgs, opts)
            return
        engine, tokens, fitted, grammar = plan
        yield from engine.submit(tokens, fitted, grammar=grammar, should_stop=should_stop).stream()

    def _batch_plan(self, msgs: list[Message], opts: GenerationOptions) -> tuple[BatchEngine, list[int],
                                                                             GenerationOptions, Any] | None:
        """The engine, prompt tokens, options with the single path's token budget, and grammar; or None
        when the request should run on the single-sequence path."""
        if self.max_batch < 2 or opts.logprobs:  # the batch does not keep each step's logits
            return None
        handle = self._get()
        tokens = self._prompt_tokens(handle, msgs)
        max_tokens = self._budget(len(tokens), opts.max_tokens)
        engine = self.batch_engine
        if not engine.fits(len(tokens), max_tokens):
            return None
        grammar = _grammar(opts.json_schema) if opts.json_schema is not None else None
        return engine, tokens, replace(opts, max_tokens=max_tokens), grammar

    def _prompt_tokens(self, handle: _Loaded, msgs: list[Message]) -> list[int]:
        llm = handle.llm
        prompt = handle.formatter(messages=[m.to_dict() for m in msgs]).prompt
        return list(llm.tokenize(prompt.encode("utf-8"), add_bos=llm._model.add_bos_token(), special=True))

    def _budget(self, n_prompt: int, max_tokens: int) -> int:
        """Tokens the answer may have: max_tokens, capped by what is left of the context after the prompt."""
        budget = self.n_ctx - n_prompt
        if budget < 1:
            raise ModelError(
                f"the prompt is {n_prompt} tokens, which does not fit the {self.n_ctx}-token context "
                f"(raise NATIVA_N_CTX or shorten the input)"
            )
        return min(max_tokens, budget)

    def stream(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Iterator[Delta]:
        """Generate under the model's lock (llama.cpp contexts are not thread-safe), yielding text as it decodes;
        stop sequences never reach the caller.
        """
        opts = options or GenerationOptions()
        msgs = as_messages(messages)
        handle = self._get()
        grammar = _grammar(opts.json_schema) if opts.json_schema is not None else None
        with handle.lock:
            yield from self._generate(handle, msgs, opts, grammar)

    def _generate(self, handle: _Loaded, msgs: list[Message], opts: GenerationOptions,
                  grammar: Any) -> Iterator[Delta]:
        llm = handle.llm
        start = time.perf_counter()
        prompt_tokens = self._prompt_tokens(handle, msgs)
        max_tokens = self._budget(len(prompt_tokens), opts.max_tokens)
        if opts.seed is not None:
            llm.set_seed(opts.seed)
        import llama_cpp

        vocab = llm._model.vocab
        assembler = TextAssembler(opts.stop)
        n_out = 0
        ttft: float | None = None
        finish = "length"
        logprobs: list[TokenLogprob] | None = [] if opts.logprobs else None
        for token in llm.generate(prompt_tokens, temp=opts.temperature, top_k=40, top_p=0.95, min_p=0.05,
                                  repeat_penalty=1.0, grammar=grammar):
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            n_out += 1
            if ttft is None:
                ttft = time.perf_counter() - start
            raw = llm.detokenize([token])
            if logprobs is not None:
                logprobs.append(_sampled_logprob(llm, token, raw.decode("utf-8", "replace")))
            piece = assembler.feed(raw)
            if assembler.stopped:
                finish = "stop"
                break
            if piece:
                yield Delta(piece)
            if n_out >= max_tokens:
                break
        rest = assembler.finish()
        if rest:
            yield Delta(rest)
        text = assembler.text
        yield Delta(
            "",
            Completion(
                text=text,
                finish_reason=finish,
                input_tokens=len(prompt_tokens),
                output_tokens=n_out,
                latency_s=time.perf_counter() - start,
                model=self.name,
                time_to_first_token_s=ttft,
                logprobs=logprobs,
            ),
        )


def _sampled_logprob(llm: Any, token: int, text: str) -> TokenLogprob:
    """log p(token) under the distribution it was just sampled from (before the grammar's mask and the
    sampler's cuts), with the step's `TOP_LOGPROBS` likeliest tokens: llama-cpp-python keeps no logits unless
    every position's are kept (`logits_all`, a n_ctx x n_vocab buffer), but until the token is decoded the
    context still holds the step's logits."""
    import numpy as np

    n_vocab = llm.n_vocab()
    logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(n_vocab,)).astype(np.float64)
    logp = logits - logits.max()
    logp -= np.log(np.exp(logp).sum())
    best = np.argpartition(-logp, TOP_LOGPROBS)[:TOP_LOGPROBS]
    best = best[np.argsort(-logp[best])]
    top = tuple((llm.detokenize([int(t)]).decode("utf-8", "replace"), float(logp[t])) for t in best)
    return TokenLogprob(text, float(logp[token]), top)


def _load(path: Path, n_ctx: int, n_threads: int) -> _Loaded:
    try:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    except ImportError as exc:  # pragma: no cover - install problem
        raise ModelError(f"llama-cpp-python is not installed ({exc}); run: make install") from None
    start = time.perf_counter()
    try:
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                              n_batch=512, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"llama.cpp could not load {path}: {exc}") from None
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise ModelError(f"{path} has no chat template in its metadata; nativa needs an instruct model")
    eos = llm._model.token_get_text(llm.token_eos())
    bos = llm._model.token_get_text(llm.token_bos()) if llm.token_bos() >= 0 else ""
    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
    return _Loaded(llm=llm, formatter=formatter, load_s=time.perf_counter() - start,
                   parameters=int(llm._model.n_params()))


def _stoppable(deltas: Iterator[Delta], should_stop: Callable[[], bool] | None) -> Iterator[Delta]:
    """The single-sequence stream, ended between tokens once `should_stop` says so (as the batch does)."""
    try:
        for delta in deltas:
            if should_stop is not None and should_stop():
                raise ModelError("the generation was cancelled")
            yield delta
    finally:
        close = getattr(deltas, "close", None)
        if close is not None:
            close()  # ends llama.cpp's generator on this thread, releasing the model's lock


def _open_backend(llm: Any, n_seq: int, seq_ctx: int, n_threads: int) -> Any:
    from nativa.models._llama_batch import LlamaBatchBackend

    backend = LlamaBatchBackend(llm, n_seq=n_seq, seq_ctx=seq_ctx, n_threads=n_threads)
    if backend.seq_ctx < seq_ctx:
        backend.close()
        raise ModelError(f"llama.cpp gave each batched sequence {backend.seq_ctx} tokens, not {seq_ctx}")
    return backend


def _grammar(schema: Any) -> Any:
    from llama_cpp import LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    except Exception as exc:  # noqa: BLE001 - llama.cpp raises bare ValueError/RuntimeError with little context
        raise SchemaError(f"the JSON schema cannot be turned into a grammar: {exc}") from None
