"""The cascade model name, its lazy stages, the privacy guard around remote stages, the sensitive-data
detector and the cost meter on the traced call path."""

from __future__ import annotations

from pathlib import Path

import pytest

from nativa.config import Settings
from nativa.errors import ModelNotFoundError, SensitiveDataError
from nativa.models import ScriptedModel, resolve_model
from nativa.models import sensitive as sens
from nativa.models.base import ChatModel
from nativa.models.cascade import DEFAULT_STAGES, CascadeModel, is_cascade, parse_cascade
from nativa.models.cost import Cost, StageCost, cost_of, metered
from nativa.models.traced import traced_complete, traced_complete_many


def test_cascade_names_parse_to_their_stages() -> None:
    assert parse_cascade("cascade") == DEFAULT_STAGES == ("small", "large")
    assert parse_cascade("cascade:small,large,openai:gpt-4o-mini") == ("small", "large", "openai:gpt-4o-mini")
    assert is_cascade("cascade") and is_cascade("cascade:small,large") and not is_cascade("small")


@pytest.mark.parametrize(("name", "says"), [
    ("cascade:small,medium", "'medium'"), ("cascade:small,openai:", "'openai:'"), ("cascade:small,", "(empty)"),
    ("cascade:small", "two or more"), ("cascade:small,small", "twice")])
def test_a_bad_stage_is_named_with_the_valid_ones(name: str, says: str) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        parse_cascade(name)
    assert says in str(info.value)
    if "'" in says:
        assert "small, large, openai:<model>" in str(info.value)


def test_the_registry_resolves_a_cascade_without_building_any_stage(tmp_path: Path) -> None:
    model = resolve_model("cascade:small,large", Settings(home=tmp_path / "home"))
    assert isinstance(model, CascadeModel) and model.stages == ("small", "large")
    assert model.loaded_stages() == [] and model.built(0) is None and model.built(1) is None
    with pytest.raises(ModelNotFoundError, match="cascade stage 'tiny'"):
        resolve_model("cascade:small,tiny", Settings(home=tmp_path / "home"))


def test_stages_are_built_once_and_only_when_asked_for() -> None:
    built: list[str] = []

    def factory(stage: str) -> ChatModel:
        built.append(stage)
        return ScriptedModel(["hello there"], name=stage)

    cascade = CascadeModel(("small", "large"), factory)
    assert cascade.complete("hi").text == "hello there"  # as a plain model, the first stage answers
    assert built == ["small"]
    assert cascade.stage(0) is cascade.stage(0) and built == ["small"]
    cascade.stage(1)
    assert built == ["small", "large"] and cascade.loaded_stages() == ["small", "large"]


def remote(replies: list[str], name: str = "big") -> ScriptedModel:
    model = ScriptedModel(replies, name=name)
    model.remote = True  # type: ignore[misc]
    return model


def test_a_remote_stage_refuses_sensitive_text_and_forwards_clean_text() -> None:
    inner = remote(["ok", "ok", "ok"])
    cascade = CascadeModel(("small", "openai:big"), lambda s: inner if s == "openai:big" else ScriptedModel([]))
    guarded = cascade.stage(1)
    assert guarded.complete("what is 2 + 2?").text == "ok"
    for leaky in ("mail bob@example.com", "key sk-abcdefghijklmnopqrstuvwx1234", "card 4111 1111 1111 1111"):
        with pytest.raises(SensitiveDataError):
            guarded.complete(leaky)
        with pytest.raises(SensitiveDataError):
            guarded.complete_many(leaky, None, 2)  # batched candidates are guarded too, not only forwarded
    assert len(inner.calls) == 1
    assert len(guarded.complete_many("clean prompt", None, 2)) == 2  # and batched calls stay batched


def test_redaction_sends_the_text_without_the_values() -> None:
    inner = remote(["ok"])
    cascade = CascadeModel(("small", "openai:big"), lambda s: inner, sensitive_mode="redact")
    cascade.stage(1).complete("write to bob@example.com with token ghp_" + "a" * 36)
    sent = inner.calls[0][0].content
    assert "bob@example.com" not in sent and "ghp_" not in sent and "[redacted email]" in sent


def test_local_only_keeps_even_clean_text_off_remote_stages() -> None:
    inner = remote(["ok"])
    cascade = CascadeModel(("small", "openai:big"), lambda s: inner)
    with sens.privacy_scope("request"):
        assert cascade.admits(1, ["nothing secret"]) == (False, "local_only: request")
        assert cascade.admits(0, ["nothing secret"]) == (True, "")
        with pytest.raises(SensitiveDataError, match="local_only"):
            cascade.stage(1).complete("nothing secret")
    assert inner.calls == []


@pytest.mark.parametrize(("text", "kind"), [
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", "private_key"),
    ("postgresql://admin:hunter22@db.internal/prod", "url_password"),
    ("OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstu", "api_key"),
    ("aws AKIAIOSFODNN7EXAMPLE", "aws_access_key"),
    ("Authorization: Bearer abcdefghijklmnop1234", "token"),
    ("password: correct-horse", "password"),
    ("write to grace.hopper@example.com", "email"),
    ("call +44 20 7946 0958", "phone"),
    ("call (555) 123-4567", "phone"),
    ("card 4111-1111-1111-1111", "card_number"),
])
def test_the_detector_finds_secrets_and_personal_data(text: str, kind: str) -> None:
    assert kind in sens.kinds([text])
    assert kind not in sens.kinds([sens.redact(text)])


@pytest.mark.parametrize("text", ["revenue 1234567 in 2024", "4111 1111 1111 1112", "id 20241122",
                                  "SELECT sum(amount) FROM sales", "version 1.2.3", "3.14159"])
def test_the_detector_leaves_ordinary_text_alone(text: str) -> None:
    assert sens.kinds([text]) == []


def test_luhn() -> None:
    assert sens.luhn("4111111111111111") and not sens.luhn("4111111111111112")


def test_the_traced_call_path_meters_tokens_and_seconds() -> None:
    model = ScriptedModel(["one two three", "a", "b c"], name="small")
    with metered() as meter:
        traced_complete(model, "count these words")
        traced_complete_many(model, "count these words", None, 2)
    usage = meter.of("small")
    assert (usage.input_tokens, usage.output_tokens, usage.calls) == (3 + 3, 3 + 1 + 2, 2)
    assert usage.model_s > 0
    traced_complete(ScriptedModel(["x"], name="small"), "outside any meter")  # no meter: nothing breaks
    assert meter.of("small").calls == 2


def test_compute_is_tokens_times_parameters_and_price_comes_from_the_table() -> None:
    local = ScriptedModel(["a b"], name="small")
    local.parameters = 1000  # type: ignore[attr-defined]
    far = remote(["c d e"], name="gpt")
    cascade = CascadeModel(("small", "openai:gpt"), lambda s: local if s == "small" else far)
    with metered() as meter:
        traced_complete(cascade.stage(0), "x y")
        traced_complete(cascade.stage(1), "x y")
    cost = cost_of(cascade, meter, {"openai:gpt": {"input": 1_000_000.0, "output": 2_000_000.0}})
    small, gpt = cost.stages
    assert small.compute == (2 + 2) * 1000 and small.price == 0.0
    assert gpt.compute == 0.0 and gpt.price == 2 * 1.0 + 3 * 2.0
    assert cost.to_dict()["total"]["price"] == gpt.price and cost.total.compute == small.compute


def test_cost_round_trips_and_adds_up_by_stage() -> None:
    a = Cost([StageCost("small", 1, 2, 0.5, 3.0), StageCost("large")])
    b = Cost([StageCost("small", 1, 1, 0.5, 1.0), StageCost("large", 4, 4, 1.0, 8.0)])
    assert Cost.from_dict(a.to_dict()) == a
    total = (a + b).total
    assert (total.input_tokens, total.output_tokens, total.compute) == (6, 7, 12.0)


def test_the_guard_passes_facts_through_but_no_unguarded_way_to_generate() -> None:
    inner = remote(["ok"])
    inner.batch_stream = lambda *a, **k: iter(())  # type: ignore[attr-defined]
    inner.n_ctx = 4096  # type: ignore[attr-defined]
    guarded = CascadeModel(("small", "openai:big"), lambda s: inner).stage(1)
    assert guarded.n_ctx == 4096 and guarded.name == "big" and guarded.remote  # type: ignore[attr-defined]
    assert not hasattr(guarded, "batch_stream")  # a batching caller takes the guarded complete_many instead
