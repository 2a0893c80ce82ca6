"""The real embedded 0.5B model through nativa (marked: needs the assembled weights, a few seconds)."""

from __future__ import annotations

import subprocess
import sys
import threading

import jsonschema
import pytest

from nativa.config import Settings
from nativa.models import GenerationOptions, LocalModel, resolve_model
from nativa.models.base import collect

pytestmark = pytest.mark.integration

GREEDY = GenerationOptions(max_tokens=48, temperature=0.0)


@pytest.fixture
def model(real_settings: Settings) -> LocalModel:
    m = resolve_model("small", real_settings)
    assert isinstance(m, LocalModel)
    return m


def test_short_completion(model: LocalModel) -> None:
    c = model.complete("Reply with the single word: hello", GenerationOptions(max_tokens=8))
    assert "hello" in c.text.lower()
    assert c.input_tokens > 5 and 0 < c.output_tokens <= 8
    assert c.latency_s > 0 and c.time_to_first_token_s is not None


def test_json_schema_completion_validates(model: LocalModel) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
        "required": ["name", "age"],
    }
    c = model.complete("Invent a person.", GenerationOptions(max_tokens=64, json_schema=schema))
    jsonschema.validate(c.json(), schema)


def test_streaming_yields_the_same_text_as_blocking(model: LocalModel) -> None:
    prompt = "Write a Python one-liner that reverses a string s."
    deltas = list(model.stream(prompt, GREEDY))
    blocking = model.complete(prompt, GREEDY)
    streamed = collect(deltas)
    assert "".join(d.text for d in deltas) == streamed.text == blocking.text
    assert len(deltas) > 3  # it really streamed, piece by piece


def test_token_counts_match_the_tokenizer(model: LocalModel) -> None:
    c = model.complete("Count from one to five in words.", GREEDY)
    assert c.output_tokens == model.count_tokens(c.text)
    prompt = model.format_prompt("Count from one to five in words.")
    assert c.input_tokens == len(model.tokenize(prompt, special=True))


def test_loaded_once_and_safe_under_concurrent_callers(real_settings: Settings) -> None:
    m1 = resolve_model("small", real_settings)
    m2 = resolve_model("small", real_settings)
    assert m1 is m2
    results: list[str] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(m1.complete("Say OK.", GenerationOptions(max_tokens=4)).text)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 3 and len(set(results)) == 1


def test_cli_ask_streams_a_real_answer(real_settings: Settings) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nativa", "ask", "write a python function that reverses a string",
         "--max-tokens", "64"],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "NATIVA_HOME": str(real_settings.home), "NATIVA_N_CTX": "2048"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "def " in proc.stdout
    assert "tok/s" in proc.stderr


def test_a_model_named_by_its_gguf_path_counts_compute(model: LocalModel, real_settings: Settings) -> None:
    """A stage given as a .gguf path has no weights spec: its compute must come from the file's own count,
    not be reported as 0 (which made such a stage look free beside a named one)."""
    from nativa.models.cost import Usage, stage_cost

    model.load()
    assert model.path is not None
    by_path = LocalModel(name="by-path", path=model.path, n_ctx=real_settings.n_ctx, n_threads=model.n_threads)
    assert by_path.parameters == 0  # not loaded yet: unknown, and nothing ran
    c = by_path.complete("Reply with the single word: hello", GenerationOptions(max_tokens=4))
    counted = by_path.llama()._model.n_params()  # the file's count: its output matrix stored beside the embedding
    assert by_path.parameters == counted > 0.9 * model.parameters
    cost = stage_cost("by-path", by_path, Usage(c.input_tokens, c.output_tokens, c.latency_s))
    assert cost.compute == (c.input_tokens + c.output_tokens) * counted > 0
