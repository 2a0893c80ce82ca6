"""The real embedded 0.5B model behind a real uvicorn on loopback, driven by the official OpenAI client.

Few requests, few tokens: the machine is small and shared.
"""

from __future__ import annotations

import concurrent.futures as cf
import json

import httpx
import openai
import pytest
from support.promised import promised

from nativa.config import Settings
from nativa.models import GenerationOptions, OpenAICompatibleModel, weights
from nativa.serve import ServeConfig, create_app
from nativa.serve.runner import ServerThread

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not weights.is_installed(weights.EMBEDDED["small"]), reason=promised("the real model", "embedded 0.5B not installed")),
]


def test_openai_client_against_the_real_model(real_settings: Settings) -> None:
    app = create_app(real_settings, config=ServeConfig(models=("small",)))
    with ServerThread(app) as server:
        ready = httpx.get(server.url + "/readyz").json()
        assert ready["status"] == "ready" and ready["models"][0]["loadable"]
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=300)
        # two first requests at once: one load, both answered
        with cf.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda q: client.chat.completions.create(
                model="small", messages=[{"role": "user", "content": q}], max_tokens=8, temperature=0),
                ["Say hello.", "Name a colour."]))
        for a in answers:
            assert a.choices[0].message.content and a.usage is not None
            assert 0 < a.usage.completion_tokens <= 8 and a.usage.prompt_tokens > 5
        metrics = httpx.get(server.url + "/metrics").text
        assert 'nativa_model_loads_total{model="small"} 1.0' in metrics
        assert 'gen_ai_client_token_usage_tokens_count' in metrics

        pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="small", messages=[{"role": "user", "content": "Count: 1, 2, 3,"}], max_tokens=8,
            stream=True) if c.choices]
        assert "".join(pieces).strip()

        schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        constrained = client.chat.completions.create(
            model="small", max_tokens=40, messages=[{"role": "user", "content": "Capital of France as JSON."}],
            response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}})
        assert isinstance(json.loads(constrained.choices[0].message.content or "")["city"], str)

        # logprobs, read as nativa's own OpenAI-compatible stage reads them (an intent cascade's confidence)
        scored = client.chat.completions.create(
            model="small", messages=[{"role": "user", "content": "Say yes."}], max_tokens=4, temperature=0,
            logprobs=True, top_logprobs=3)
        tokens = scored.choices[0].logprobs.content  # type: ignore[union-attr]
        assert scored.usage is not None and len(tokens) == scored.usage.completion_tokens
        assert "".join(t.token for t in tokens) == scored.choices[0].message.content
        for t in tokens:
            assert t.logprob <= 0 and len(t.top_logprobs) == 3
            assert t.top_logprobs[0].logprob >= t.logprob - 1e-6  # greedy: the sampled token is the best one
        ours = OpenAICompatibleModel("small", base_url=server.url + "/v1", api_key="unused", timeout_s=300)
        got = ours.complete("Say yes.", GenerationOptions(max_tokens=4, logprobs=True))
        assert got.logprobs is not None and len(got.logprobs) == got.output_tokens
        assert [t.text for t in got.logprobs] == [t.token for t in tokens]  # same greedy answer, same tokens
