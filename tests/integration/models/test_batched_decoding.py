"""The batched decoder on the real embedded 0.5B model: the same answers as the single-sequence path.

"Alone" means `LocalModel.complete` on a fresh cache (llama-cpp-python's `reset()`), which evaluates the
prompt whole, as the batched decoder always does. Steps here carry at most 3 sequences: up to there this
build's CPU kernels give each row bit-identical results (see docs/benchmarks.md, issue 13).
"""

from __future__ import annotations

import json
import threading

import jsonschema
import pytest

from nativa.config import Settings
from nativa.models import GenerationOptions, LocalModel, resolve_model
from nativa.models.base import Completion, collect

pytestmark = pytest.mark.integration

PROMPTS = ["Explain quicksort briefly.", "Write a bash one-liner to count lines in all .py files.",
           "Write a SQL query that finds duplicate emails."]
GREEDY = GenerationOptions(max_tokens=48, temperature=0.0)


@pytest.fixture
def model(real_settings: Settings) -> LocalModel:
    m = resolve_model("small", real_settings.model_copy(update={"max_batch": 4}))
    assert isinstance(m, LocalModel)
    return m


def alone(model: LocalModel, prompt: str, options: GenerationOptions) -> Completion:
    model._get().llm.reset()  # a fresh cache: the prompt is evaluated whole
    return model.complete(prompt, options)


def together(model: LocalModel, prompts: list[str], options: list[GenerationOptions]) -> list[Completion]:
    """Each prompt as one sequence of the running batch, all submitted at once from their own threads."""
    out: list[Completion | None] = [None] * len(prompts)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            out[i] = collect(model.batch_stream(prompts[i], options[i]))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return [c for c in out if c is not None]


def test_greedy_answers_batched_equal_the_answers_alone(model: LocalModel) -> None:
    options = [GREEDY, GREEDY, GenerationOptions(max_tokens=48, temperature=0.0, stop=("\n\n",))]
    expected = [alone(model, p, o) for p, o in zip(PROMPTS, options, strict=True)]
    engine = model.batch_engine
    rows_before, steps_before = engine.rows, engine.steps
    got = together(model, PROMPTS, options)
    assert [c.text for c in got] == [c.text for c in expected]  # token for token, stop strings included
    assert [c.finish_reason for c in got] == [c.finish_reason for c in expected]
    assert [c.output_tokens for c in got] == [c.output_tokens for c in expected]
    assert [c.input_tokens for c in got] == [c.input_tokens for c in expected]
    assert engine.rows - rows_before > 1.5 * (engine.steps - steps_before)  # they really shared steps


def test_seeded_samples_equal_the_lone_draws_with_seed_plus_i(model: LocalModel) -> None:
    options = GenerationOptions(max_tokens=40, temperature=0.8, seed=11)
    samples = model.complete_many("Write a haiku about the sea.", options, n=3)
    lone = [alone(model, "Write a haiku about the sea.", GenerationOptions(max_tokens=40, temperature=0.8,
                                                                           seed=11 + i)) for i in range(3)]
    assert [c.text for c in samples] == [c.text for c in lone]
    assert len({c.text for c in samples}) > 1  # different seeds, different samples
    again = model.complete_many("Write a haiku about the sea.", options, n=3)  # the cached prompt, reused
    assert [c.text for c in again] == [c.text for c in samples]


def test_greedy_draws_are_the_greedy_answer_n_times(model: LocalModel) -> None:
    draws = model.complete_many(PROMPTS[0], GREEDY, n=3)
    assert [c.text for c in draws] == [alone(model, PROMPTS[0], GREEDY).text] * 3


def test_each_sequence_keeps_its_own_grammar(model: LocalModel) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"]}
    constrained = GenerationOptions(max_tokens=60, temperature=0.9, seed=3, json_schema=schema)
    for c in model.complete_many("Invent a person.", constrained, n=3):
        jsonschema.validate(json.loads(c.text), schema)
    mixed = together(model, ["Invent a person.", "Say hello in French."],
                     [GenerationOptions(max_tokens=60, json_schema=schema), GenerationOptions(max_tokens=12)])
    jsonschema.validate(json.loads(mixed[0].text), schema)
    assert not mixed[1].text.lstrip().startswith("{")  # the grammar did not leak into the other sequence
