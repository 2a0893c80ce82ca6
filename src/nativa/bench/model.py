"""`nativa bench model`: is nativa's generation path as fast as calling llama-cpp-python directly?

Both sides load the same GGUF with the same context size and threads, get the same chat prompt and
decode greedily; runs alternate so machine noise hits both alike. The KV cache is reset before every run
so time to first token includes the whole prompt evaluation on both sides.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from rich.table import Table

from nativa.bench._stats import median, ratio
from nativa.config import Settings
from nativa.errors import ModelNotFoundError
from nativa.models import GenerationOptions
from nativa.models.local import LocalModel
from nativa.models.registry import resolve_model

PROMPT = [
    {"role": "system", "content": "You are a helpful coding assistant."},
    {"role": "user", "content": "Write a Python function that checks whether a string is a palindrome, "
                                "ignoring case and punctuation, with a docstring and two examples."},
]


@dataclass
class ModelBenchResult:
    """nativa's generation against raw llama-cpp-python on the same weights: tokens per second and time
    to first token."""

    model: str
    runs: int
    output_tokens: int
    nativa_tok_s: float
    raw_tok_s: float
    nativa_ttft_s: float
    raw_ttft_s: float

    @property
    def tok_s_ratio(self) -> float:
        """nativa tokens/s over raw llama-cpp-python's: >= 0.95 means nativa costs at most 5 %."""
        return ratio(self.nativa_tok_s, self.raw_tok_s)

    @property
    def ttft_ratio(self) -> float:
        """raw / nativa, so that >= 0.95 means nativa is at least 95 % as fast, like the tokens/s ratio."""
        return ratio(self.raw_ttft_s, self.nativa_ttft_s)

    def to_dict(self) -> dict[str, float | int | str]:
        """The result as JSON with its derived figures, so the results file can be read without this code."""
        return asdict(self) | {"tok_s_ratio": self.tok_s_ratio, "ttft_ratio": self.ttft_ratio}


def _raw_run(llm: object, max_tokens: int) -> tuple[float, float, int]:
    """Time llama-cpp-python's own streaming chat completion; returns (ttft, tok/s, tokens)."""
    llm.reset()  # type: ignore[attr-defined]
    start = time.perf_counter()
    ttft = None
    text = []
    for chunk in llm.create_chat_completion(PROMPT, max_tokens=max_tokens, temperature=0.0,  # type: ignore[attr-defined]
                                            stream=True):
        piece = chunk["choices"][0]["delta"].get("content")
        if piece:
            if ttft is None:
                ttft = time.perf_counter() - start
            text.append(piece)
    total = time.perf_counter() - start
    n = len(llm.tokenize("".join(text).encode(), add_bos=False))  # type: ignore[attr-defined]
    assert ttft is not None
    return ttft, n / (total - ttft), n


def _nativa_run(model: LocalModel, max_tokens: int) -> tuple[float, float, int]:
    model._get().llm.reset()
    c = model.complete(PROMPT, GenerationOptions(max_tokens=max_tokens, temperature=0.0))
    assert c.time_to_first_token_s is not None
    return c.time_to_first_token_s, c.tokens_per_s, c.output_tokens


def run_model_bench(settings: Settings, names: list[str], *, runs: int, max_tokens: int,
                    log: Callable[[str], None] | None = None) -> list[ModelBenchResult]:
    """Each named model through nativa and through llama-cpp-python directly, medians over `runs`; a model
    that is not installed is skipped."""
    import llama_cpp

    results = []
    for name in names:
        try:
            model = resolve_model(name, settings)
        except ModelNotFoundError as exc:
            if log:
                log(f"skipping {name}: {exc}")
            continue
        if not isinstance(model, LocalModel):
            if log:
                log(f"skipping {name}: only embedded models are compared with raw llama-cpp-python")
            continue
        model.load()
        raw = llama_cpp.Llama(model_path=str(model.path), n_ctx=model.n_ctx, n_threads=model.n_threads,
                              n_threads_batch=model.n_threads,
                              n_batch=512, verbose=False)
        _nativa_run(model, 8), _raw_run(raw, 8)  # warm-up: page the weights in for both
        n_side: list[tuple[float, float, int]] = []
        r_side: list[tuple[float, float, int]] = []
        for i in range(runs):
            n_side.append(_nativa_run(model, max_tokens))
            r_side.append(_raw_run(raw, max_tokens))
            if log:
                log(f"{name} run {i + 1}/{runs}: nativa {n_side[-1][1]:.1f} tok/s, raw {r_side[-1][1]:.1f} tok/s")
        del raw
        results.append(ModelBenchResult(
            model=name, runs=runs, output_tokens=n_side[-1][2],
            nativa_tok_s=median([x[1] for x in n_side]), raw_tok_s=median([x[1] for x in r_side]),
            nativa_ttft_s=median([x[0] for x in n_side]), raw_ttft_s=median([x[0] for x in r_side]),
        ))
    return results


def render(results: list[ModelBenchResult]) -> Table:
    """The results as the table `nativa bench model` prints."""
    table = Table("model", "runs", "tokens", "nativa tok/s", "raw tok/s", "ratio", "nativa TTFT", "raw TTFT",
                  "TTFT ratio (raw/nativa)", title="nativa vs raw llama-cpp-python (median)")
    for r in results:
        table.add_row(r.model, str(r.runs), str(r.output_tokens), f"{r.nativa_tok_s:.1f}", f"{r.raw_tok_s:.1f}",
                      f"{r.tok_s_ratio:.3f}", f"{r.nativa_ttft_s * 1000:.0f} ms", f"{r.raw_ttft_s * 1000:.0f} ms",
                      f"{r.ttft_ratio:.3f}")
    return table
