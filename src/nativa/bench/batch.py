"""`nativa bench model --batch 1,2,4,8`: n samples of one prompt decoded together, against one sample and
against the host's ceiling for n (`ceiling.py`), all measured in the same run.

For each n: the aggregate decode-phase tokens/s of n samples decoded together at temperature 0.8 (the
agent's candidates; every sample after its first token, over the time from the first token to the last
sample's end), the same for one sample through the single-sequence path, and one decode call of n
positions (and of 1), the ceilings measured just before and just after the batch and averaged. Everything
alternates within each round so the machine's noise hits all sides alike; the ratios are the medians of
the per-round ratios, which a shared machine disturbs less than a ratio of medians.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.table import Table

from nativa.bench._stats import median, ratio
from nativa.bench.ceiling import decode_ceiling
from nativa.config import Settings
from nativa.errors import ModelNotFoundError
from nativa.models import GenerationOptions
from nativa.models.base import Completion
from nativa.models.local import LocalModel
from nativa.models.registry import resolve_model

PROMPT = [{"role": "user", "content": "Write a long, detailed story about a lighthouse keeper and a storm. "
                                      "Use at least ten paragraphs."}]


@dataclass
class BatchPoint:
    """One n: per-round tokens/s of each side (lists, in round order) and their medians."""

    model: str
    n: int
    tokens: int  # output tokens of all n samples (median round)
    steps: int  # decode steps the n samples took (median round)
    batched: list[float] = field(default_factory=list)  # n samples together, aggregate
    single: list[float] = field(default_factory=list)  # one sample on the single-sequence path
    ceiling: list[float] = field(default_factory=list)  # one decode call of n positions
    ceiling_1: list[float] = field(default_factory=list)  # one decode call of 1 position

    @property
    def runs(self) -> int:
        """How many rounds were measured."""
        return len(self.batched)

    @property
    def batched_tok_s(self) -> float:
        """Median aggregate tokens/s of the n samples decoded together."""
        return median(self.batched)

    @property
    def single_tok_s(self) -> float:
        """Median tokens/s of one sample alone: the baseline for `speedup`."""
        return median(self.single)

    @property
    def ceiling_tok_s(self) -> float:
        """Median tokens/s of bare decode calls of n positions: the host's ceiling at n."""
        return median(self.ceiling)

    @property
    def ceiling_1_tok_s(self) -> float:
        """Median tokens/s of bare decode calls of 1 position."""
        return median(self.ceiling_1)

    @property
    def speedup(self) -> float:
        """n samples' aggregate tokens/s over one sample's (median of the rounds' ratios)."""
        return median([ratio(b, s) for b, s in zip(self.batched, self.single, strict=True)])

    @property
    def of_ceiling(self) -> float:
        """How close the batch comes to the ceiling (median of the rounds' ratios; 1 is the ceiling)."""
        return median([ratio(b, c) for b, c in zip(self.batched, self.ceiling, strict=True)])

    @property
    def ceiling_speedup(self) -> float:
        """What the host itself gains from n positions per decode over 1: the most batching could give."""
        return median([ratio(c, c1) for c, c1 in zip(self.ceiling, self.ceiling_1, strict=True)])

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON with its derived figures, so the results file can be read without this code."""
        return asdict(self) | {"runs": self.runs, "batched_tok_s": self.batched_tok_s,
                               "single_tok_s": self.single_tok_s, "ceiling_tok_s": self.ceiling_tok_s,
                               "ceiling_1_tok_s": self.ceiling_1_tok_s, "speedup": self.speedup,
                               "of_ceiling": self.of_ceiling, "ceiling_speedup": self.ceiling_speedup}


def decode_tok_s(completions: Sequence[Completion]) -> float:
    """Aggregate tokens/s after the first token: what the decode steps delivered, prompt excluded."""
    first = min(c.time_to_first_token_s or 0.0 for c in completions)
    span = max(c.latency_s for c in completions) - first
    tokens = sum(max(0, c.output_tokens - 1) for c in completions)
    return tokens / span if span > 0 else float("nan")


def run_batch_bench(settings: Settings, names: list[str], ns: Sequence[int], *, runs: int, max_tokens: int,
                    log: Callable[[str], None] | None = None) -> list[BatchPoint]:
    """For each model and each n in `ns`: n samples of one prompt decoded together against one sample
    alone and the host's ceiling, medians over `runs`; a model that is not installed is skipped."""
    say = log or (lambda _msg: None)
    results: list[BatchPoint] = []
    for name in names:
        try:
            model = resolve_model(name, settings.model_copy(update={"max_batch": max(ns)}))
        except ModelNotFoundError as exc:
            say(f"skipping {name}: {exc}")
            continue
        if not isinstance(model, LocalModel):
            say(f"skipping {name}: batching is measured on the embedded models")
            continue
        model.load()
        llm = model._get().llm
        options = GenerationOptions(max_tokens=max_tokens, temperature=0.8, seed=1)
        model.complete_many(PROMPT, GenerationOptions(max_tokens=8, temperature=0.8), n=max(ns))  # warm-up
        engine = model.batch_engine
        points = {n: BatchPoint(model=name, n=n, tokens=0, steps=0) for n in ns}
        tokens: dict[int, list[float]] = {n: [] for n in ns}
        steps: dict[int, list[float]] = {n: [] for n in ns}
        for r in range(runs):
            for n in ns:
                point = points[n]
                before = (decode_ceiling(llm, 1), decode_ceiling(llm, n))
                taken = engine.steps
                draws = engine.submit(model.prompt_tokens(PROMPT), options, n=n).result()
                point.batched.append(decode_tok_s(draws))
                after = (decode_ceiling(llm, n), decode_ceiling(llm, 1))
                steps[n].append(engine.steps - taken)
                tokens[n].append(sum(c.output_tokens for c in draws))
                point.single.append(decode_tok_s([model.complete(PROMPT, options)]))
                point.ceiling.append((before[1] + after[0]) / 2)
                point.ceiling_1.append((before[0] + after[1]) / 2)
                say(f"{name} n={n} round {r + 1}/{runs}: together {point.batched[-1]:.1f} tok/s, one sample "
                    f"{point.single[-1]:.1f}, ceiling {point.ceiling[-1]:.1f} (1 position {point.ceiling_1[-1]:.1f})")
        for n in ns:
            points[n].tokens, points[n].steps = int(median(tokens[n])), int(median(steps[n]))
            results.append(points[n])
    return results


def parse_batch(text: str) -> list[int]:
    """`--batch 1,2,4,8` as numbers; one line naming the bad input otherwise."""
    from nativa.errors import BadInputError

    try:
        ns = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        ns = []
    if not ns or any(n < 1 or n > 64 for n in ns):
        raise BadInputError(f"--batch {text!r} must be comma-separated whole numbers from 1 to 64, e.g. 1,2,4,8")
    return sorted(set(ns))


def render(results: list[BatchPoint]) -> Table:
    """The batch bench's results as the table `nativa bench model --batch` prints."""
    table = Table("model", "n", "tokens", "steps", "n together tok/s", "1 sample tok/s", "speedup",
                  "ceiling(n) tok/s", "ceiling(n)/ceiling(1)", "of ceiling",
                  title="n samples of one prompt decoded together vs one sample vs the host's ceiling (medians)")
    for p in results:
        table.add_row(p.model, str(p.n), str(p.tokens), str(p.steps), f"{p.batched_tok_s:.1f}",
                      f"{p.single_tok_s:.1f}", f"{p.speedup:.2f}", f"{p.ceiling_tok_s:.1f}",
                      f"{p.ceiling_speedup:.2f}", f"{p.of_ceiling:.2f}")
    return table
