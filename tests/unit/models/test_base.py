"""Input validation at the model boundary, and the scripted model the agent tests rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from nativa.errors import BadInputError, SchemaError
from nativa.models import GenerationOptions, Message, ScriptedModel, as_messages
from nativa.models.base import collect
from nativa.models.scripted import ScriptExhausted


def test_prompt_string_becomes_one_user_message() -> None:
    assert as_messages("hi") == [Message("user", "hi")]


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([], "messages is empty"),
        ([{"role": "wizard", "content": "x"}], r"messages\[0\]\.role is 'wizard'; valid roles"),
        ([{"role": "user", "content": 3}], r"messages\[0\]\.content must be a string"),
        ([{"role": "user", "content": "a"}, "b"], r"messages\[1\] must be a mapping"),
    ],
)
def test_bad_messages_name_the_entry(messages: list, match: str) -> None:
    with pytest.raises(BadInputError, match=match):
        as_messages(messages)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_tokens": 0}, "max_tokens must be >= 1"),
        ({"temperature": 3.0}, "temperature must be between 0 and 2"),
        ({"json_schema": ["not", "an", "object"]}, "must be a JSON object"),
        ({"json_schema": {"description": "no type"}}, "has no 'type'"),
    ],
)
def test_bad_generation_options(kwargs: dict, match: str) -> None:
    with pytest.raises(BadInputError, match=match):
        GenerationOptions(**kwargs)


def test_a_bad_schema_is_bad_input_the_cli_answers_with_exit_2(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from nativa.cli import run

    schema = tmp_path / "schema.json"
    schema.write_text('{"description": "no type"}')
    with pytest.raises(SchemaError):
        GenerationOptions(json_schema={"description": "no type"})
    assert run(["ask", "hi", "--schema", str(schema)]) == 2
    err = capsys.readouterr().err
    assert "has no 'type'" in err and "Traceback" not in err


def test_scripted_model_replies_in_order_and_records_calls() -> None:
    m = ScriptedModel(["first", "second reply"])
    assert m.complete("a").text == "first"
    streamed = list(m.stream([{"role": "user", "content": "b"}]))
    assert "".join(d.text for d in streamed) == collect(streamed).text == "second reply"
    assert [c[-1].content for c in m.calls] == ["a", "b"]
    with pytest.raises(ScriptExhausted):
        m.complete("c")


def test_scripted_model_raises_scripted_errors_and_respects_max_tokens() -> None:
    m = ScriptedModel([RuntimeError("boom"), "one two three four"])
    with pytest.raises(RuntimeError, match="boom"):
        m.complete("x")
    c = m.complete("x", GenerationOptions(max_tokens=2))
    assert (c.text, c.finish_reason, c.output_tokens) == ("one two", "length", 2)


def test_completion_json_errors_are_clear() -> None:
    c = ScriptedModel(["not json"]).complete("x")
    with pytest.raises(SchemaError, match="not valid JSON"):
        c.json()
