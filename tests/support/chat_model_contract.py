"""The contract every `ChatModel` honours, as plain check functions run against each implementation.

Like the memory backends' suite (and LangGraph's checkpoint-conformance), a model implementation is done
when every check here passes on it: tests/unit/models/test_chat_model_conformance.py runs them on the
scripted model, tests/integration/models/test_chat_model_conformance.py on the embedded model and on the
OpenAI-compatible client talking to llama-cpp-python's own server. The agent, the server and the benches
rely on exactly these behaviours, whichever model runs.

A new method of the protocol (`complete_many`, say) is one more `@contract` function here: every suite
picks it up, on every model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jsonschema
import pytest

from nativa.errors import BadInputError, NativaError
from nativa.models.base import ChatModel, Completion, GenerationOptions, MessagesLike

# A prompt every model answers at length, greedily and the same way each time.
PROMPT = "Count from one to twenty in words, separated by spaces. Reply with the words only."
# What the scripted model answers to everything: valid JSON, many words, so one script serves every check.
SCRIPTED_REPLY = ('{"words": "one two three four five six seven eight nine ten eleven twelve thirteen fourteen '
                  'fifteen sixteen seventeen eighteen nineteen twenty"}')
SCHEMA = {"type": "object", "properties": {"words": {"type": "string"}}, "required": ["words"]}
SCHEMA_PROMPT = 'Give the numbers one to five in words, as JSON: {"words": "..."}.'


def greedy(max_tokens: int = 48, **kw: object) -> GenerationOptions:
    return GenerationOptions(max_tokens=max_tokens, temperature=0.0, seed=0, **kw)  # type: ignore[arg-type]


@dataclass
class ModelCase:
    """One implementation under test and what the contract needs to know about it."""

    id: str
    model: ChatModel
    failing: Callable[[], ChatModel]  # a model of the same kind whose calls fail (broken weights, dead server)
    tokens: Callable[[str], int]  # the tokenizer whose counts the model reports (its own, or its server's)
    too_long: MessagesLike | None = None  # a prompt past the context window, where the model has one


CONTRACT: list[Callable[[ModelCase], None]] = []


def contract(check: Callable[[ModelCase], None]) -> Callable[[ModelCase], None]:
    """Register a check: every conformance suite runs it on every model."""
    CONTRACT.append(check)
    return check


def ids(check: Callable[[ModelCase], None]) -> str:
    return check.__name__


@contract
def complete_returns_a_typed_answer(case: ModelCase) -> None:
    m = case.model
    assert isinstance(m, ChatModel) and m.name and m.provider and isinstance(m.remote, bool)
    c = m.complete(PROMPT, greedy())
    assert isinstance(c, Completion)
    assert c.text.strip() and c.model == m.name
    assert c.finish_reason in ("stop", "length")
    assert c.input_tokens > 0 and 0 < c.output_tokens <= 48
    assert c.latency_s >= 0 and c.tokens_per_s >= 0


@contract
def stream_delivers_the_same_answer_piece_by_piece(case: ModelCase) -> None:
    deltas = list(case.model.stream(PROMPT, greedy()))
    blocking = case.model.complete(PROMPT, greedy())
    # Only the last delta carries the completion; the pieces before it add up to its text.
    assert [d.completion is not None for d in deltas] == [False] * (len(deltas) - 1) + [True]
    streamed = deltas[-1].completion
    assert streamed is not None
    assert "".join(d.text for d in deltas) == streamed.text == blocking.text
    assert sum(1 for d in deltas if d.text) > 1  # it really streamed
    if streamed.tokens_estimated:  # the server streamed no usage: counts are estimates, and say so
        assert streamed.input_tokens > 0 and streamed.output_tokens > 0
    else:
        assert (streamed.input_tokens, streamed.output_tokens) == (blocking.input_tokens, blocking.output_tokens)
    assert streamed.finish_reason == blocking.finish_reason
    assert streamed.time_to_first_token_s is not None


@contract
def token_counts_come_from_the_models_tokenizer(case: ModelCase) -> None:
    m = case.model
    assert m.count_tokens("") == 0
    assert 0 < m.count_tokens("one two") < m.count_tokens("one two three four five six seven eight")
    c = m.complete(PROMPT, greedy())
    assert not c.tokens_estimated  # every implementation reports real counts for a blocking call
    assert c.output_tokens == case.tokens(c.text)


@contract
def max_tokens_cuts_the_answer_at_the_budget(case: ModelCase) -> None:
    full = case.model.complete(PROMPT, greedy())
    cut = case.model.complete(PROMPT, greedy(max_tokens=5))
    assert full.output_tokens > 5  # the prompt asks for more than the budget
    assert (cut.finish_reason, cut.output_tokens) == ("length", 5)
    assert full.text.startswith(cut.text) and len(cut.text) < len(full.text)


@contract
def a_stop_sequence_ends_the_answer_before_it(case: ModelCase) -> None:
    full = case.model.complete(PROMPT, greedy()).text
    words = full.split()
    assert len(words) >= 5, full
    stop = " " + words[3]
    expected = full[: full.find(stop)]
    blocking = case.model.complete(PROMPT, greedy(stop=(stop,)))
    deltas = list(case.model.stream(PROMPT, greedy(stop=(stop,))))
    assert blocking.text == expected and stop not in blocking.text
    assert blocking.finish_reason == "stop"
    assert "".join(d.text for d in deltas) == expected  # a stream never shows the stop sequence either


@contract
def a_json_schema_constrains_the_answer(case: ModelCase) -> None:
    c = case.model.complete(SCHEMA_PROMPT, greedy(max_tokens=64, json_schema=SCHEMA))
    jsonschema.validate(c.json(), SCHEMA)
    streamed = "".join(d.text for d in case.model.stream(SCHEMA_PROMPT, greedy(max_tokens=64, json_schema=SCHEMA)))
    assert streamed == c.text


@contract
def logprobs_come_only_when_asked_one_per_output_token(case: ModelCase) -> None:
    # The intent parser's confidence rests on these: each output token's log-probability and the step's
    # likeliest alternatives, best first. A model that cannot give them says None, never made-up numbers.
    assert case.model.complete(SCHEMA_PROMPT, greedy(max_tokens=64, json_schema=SCHEMA)).logprobs is None
    for c in (case.model.complete(SCHEMA_PROMPT, greedy(max_tokens=64, json_schema=SCHEMA, logprobs=True)),
              collect_stream(case.model, SCHEMA_PROMPT, greedy(max_tokens=64, json_schema=SCHEMA, logprobs=True))):
        if c.logprobs is None:
            assert case.model.remote, "the embedded and scripted models always give logprobs when asked"
            continue
        assert len(c.logprobs) == c.output_tokens
        assert all(t.logprob <= 1e-6 for t in c.logprobs)
        assert all([lp for _, lp in t.top] == sorted((lp for _, lp in t.top), reverse=True) for t in c.logprobs)
        if not case.model.remote:
            assert "".join(t.text for t in c.logprobs) == c.text
            assert all(t.top and t.top[0][1] >= t.logprob - 1e-9 for t in c.logprobs)


def collect_stream(model: ChatModel, prompt: str, options: GenerationOptions) -> Completion:
    last = list(model.stream(prompt, options))[-1].completion
    assert last is not None
    return last


@contract
def malformed_messages_are_the_callers_error(case: ModelCase) -> None:
    for bad, named in (([], "empty"), ([{"role": "robot", "content": "x"}], "robot"),
                       ([{"role": "user", "content": 3}], "messages\\[0\\].content")):
        with pytest.raises(BadInputError, match=named):
            case.model.complete(bad)  # type: ignore[arg-type]
        with pytest.raises(BadInputError, match=named):
            next(iter(case.model.stream(bad)))  # type: ignore[arg-type]


@contract
def failures_are_nativa_errors(case: ModelCase) -> None:
    broken = case.failing()
    with pytest.raises(NativaError):
        broken.complete(PROMPT, greedy())
    with pytest.raises(NativaError):
        list(broken.stream(PROMPT, greedy()))
    if case.too_long is not None:  # the context window: a clear error, never a crash or a built-in
        with pytest.raises(NativaError, match="context"):
            case.model.complete(case.too_long, greedy())
