"""The embedded model: a GGUF file run in-process by llama-cpp-python.

Loading costs hundreds of milliseconds and hundreds of megabytes, so a model file is loaded lazily, once
per process, and shared by every `LocalModel` that points at it; concurrent first callers wait for the
same load. llama.cpp contexts are not thread-safe, so generation on one loaded model is serialised.

We drive `Llama.generate` ourselves instead of `create_chat_completion` so that streaming and blocking
calls share one code path and report exact token counts (llama-cpp-python's streaming reports none).
"""

from __future__ import annotations

import atexit
import codecs
import json
import os

# llama.cpp's OpenMP threads spin-wait by default; on a shared or oversubscribed machine (CI, a laptop
# running a server beside a test suite) that made a first prompt evaluation take 12 s instead of 0.6 s.
# Spinning only pays on a dedicated machine; OMP_WAIT_POLICY=active in the environment restores it.
# It must be set before llama.cpp (and with it libgomp) is first loaded, which is why it sits up here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nativa.errors import ModelError, SchemaError
from nativa.models.base import Completion, Delta, GenerationOptions, MessagesLike, as_messages
from nativa.models.weights import ProgressFn, WeightsSpec, ensure

_registry_lock = threading.Lock()
_loaded: dict[tuple[str, int, int], _Loaded] = {}


@atexit.register
def _close_all() -> None:
    """Free llama.cpp models before interpreter teardown; left to `__del__`, it prints a TypeError at exit."""
    with _registry_lock:
        for handle in _loaded.values():
            handle.llm.close()
        _loaded.clear()


@dataclass
class _Loaded:
    """A loaded llama.cpp model and the lock that serialises its use."""

    llm: Any
    formatter: Any
    load_s: float
    lock: threading.Lock = field(default_factory=threading.Lock)


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
        self._own_lock = threading.Lock()
        self._handle: _Loaded | None = None

    # -- loading ---------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory already (a first call pays the load)."""
        return self._handle is not None or self._key_if_known() in _loaded

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

    def stream(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Iterator[Delta]:
        """Generate under the model's lock (llama.cpp contexts are not thread-safe), yielding text as it decodes;
        stop sequences never reach the caller.
        """
        opts = options or GenerationOptions()
        msgs = as_messages(messages)
        handle = self._get()
        grammar = _grammar(opts.json_schema) if opts.json_schema is not None else None
        with handle.lock:
            yield from self._generate(handle, handle.formatter(messages=[m.to_dict() for m in msgs]).prompt,
                                      opts, grammar)

    def _generate(self, handle: _Loaded, prompt: str, opts: GenerationOptions, grammar: Any) -> Iterator[Delta]:
        llm = handle.llm
        start = time.perf_counter()
        prompt_tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=llm._model.add_bos_token(), special=True)
        budget = self.n_ctx - len(prompt_tokens)
        if budget < 1:
            raise ModelError(
                f"the prompt is {len(prompt_tokens)} tokens, which does not fit the {self.n_ctx}-token context "
                f"(raise NATIVA_N_CTX or shorten the input)"
            )
        max_tokens = min(opts.max_tokens, budget)
        if opts.seed is not None:
            llm.set_seed(opts.seed)
        import llama_cpp

        vocab = llm._model.vocab
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = tuple(s for s in opts.stop if s)
        hold = max((len(s) for s in stops), default=1) - 1
        text = ""
        emitted = 0
        n_out = 0
        ttft: float | None = None
        finish = "length"
        for token in llm.generate(prompt_tokens, temp=opts.temperature, top_k=40, top_p=0.95, min_p=0.05,
                                  repeat_penalty=1.0, grammar=grammar):
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            n_out += 1
            if ttft is None:
                ttft = time.perf_counter() - start
            text += decoder.decode(llm.detokenize([token]))
            if stops:
                cut = min((i for i in (text.find(s, max(0, emitted - hold)) for s in stops) if i >= 0), default=-1)
                if cut >= 0:
                    text = text[:cut]
                    finish = "stop"
                    break
            safe = len(text) - hold if stops else len(text)
            if safe > emitted:
                yield Delta(text[emitted:safe])
                emitted = safe
            if n_out >= max_tokens:
                break
        if not (stops and finish == "stop"):
            text += decoder.decode(b"", final=True)  # bytes of a split character, unless cut at a stop
        if len(text) > emitted:
            yield Delta(text[emitted:])
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
            ),
        )


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
    return _Loaded(llm=llm, formatter=formatter, load_s=time.perf_counter() - start)


def _grammar(schema: Any) -> Any:
    from llama_cpp import LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    except Exception as exc:  # llama.cpp raises bare ValueError/RuntimeError with little context
        raise SchemaError(f"the JSON schema cannot be turned into a grammar: {exc}") from None
