"""Continuous batching with the real embedded 0.5B model behind a real uvicorn on loopback.

Few requests, few tokens: the machine is small and shared.
"""

from __future__ import annotations

import concurrent.futures as cf

import httpx
import pytest
from support.waiting import wait_for

from nativa.config import Settings
from nativa.models import LocalModel, resolve_model
from nativa.serve import ServeConfig, create_app
from nativa.serve.runner import ServerThread

pytestmark = pytest.mark.integration  # no skip: without the embedded model these fail, as they should

PROMPTS = ["Name three prime numbers.", "Say hello in German.", "What is 2 + 2?"]


def body(prompt: str, **extra: object) -> dict[str, object]:
    return {"model": "small", "messages": [{"role": "user", "content": prompt}], "max_tokens": 24,
            "temperature": 0} | extra


def test_concurrent_requests_share_steps_and_answer_as_they_would_alone(real_settings: Settings) -> None:
    settings = real_settings.model_copy(update={"max_batch": 3})
    model = resolve_model("small", settings)
    assert isinstance(model, LocalModel)
    with ServerThread(create_app(settings, config=ServeConfig(models=("small",), preload=True))) as server:
        url = server.url + "/v1/chat/completions"
        engine = model.batch_engine
        with cf.ThreadPoolExecutor(3) as pool:
            together = list(pool.map(lambda p: httpx.post(url, json=body(p), timeout=300), PROMPTS))
        assert engine.rows > 1.5 * engine.steps  # the three requests shared decode steps
        one_by_one = [httpx.post(url, json=body(p), timeout=300) for p in PROMPTS]
        assert [r.status_code for r in together + one_by_one] == [200] * 6
        texts = [r.json()["choices"][0]["message"]["content"] for r in together]
        assert texts == [r.json()["choices"][0]["message"]["content"] for r in one_by_one]
        assert all(t.strip() for t in texts)

        # a client that hangs up mid-stream frees its sequence within a step
        with httpx.stream("POST", url, json=body("Count from 1 to 500.", max_tokens=400, stream=True),
                          timeout=300) as response:
            for n, _ in enumerate(response.iter_lines()):
                if n > 6:
                    break
        assert wait_for(lambda: model.batch_running == 0, timeout_s=60)
        assert 'nativa_batch_sequences{model="small"} 0.0' in httpx.get(server.url + "/metrics").text


def test_a_full_batch_and_queue_refuse_with_429_not_a_crash(real_settings: Settings) -> None:
    settings = real_settings.model_copy(update={"max_batch": 2})
    config = ServeConfig(models=("small",), preload=True, max_queue=0)
    with ServerThread(create_app(settings, config=config)) as server:
        url = server.url + "/v1/chat/completions"
        long = body("Count from 1 to 300, one number per line.", max_tokens=120)
        with cf.ThreadPoolExecutor(3) as pool:
            running = [pool.submit(httpx.post, url, json=long, timeout=300) for _ in range(2)]
            assert wait_for(lambda: 'nativa_queue_running{model="small"} 2.0' in
                            httpx.get(server.url + "/metrics").text, timeout_s=60)  # both hold sequences
            refused = httpx.post(url, json=long, timeout=300)
            done = [f.result() for f in running]
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "queue_full"
        assert int(refused.headers["retry-after"]) >= 1
        assert [r.status_code for r in done] == [200, 200]
        assert httpx.post(url, json=body("Say OK."), timeout=300).status_code == 200


def test_a_request_past_a_sequences_kv_budget_runs_alone_and_one_past_the_context_is_a_clear_400(
        real_settings: Settings) -> None:
    settings = real_settings.model_copy(update={"max_batch": 2, "batch_n_ctx": 256})  # 128 KV cells a sequence
    model = resolve_model("small", settings)
    assert isinstance(model, LocalModel)
    with ServerThread(create_app(settings, config=ServeConfig(models=("small",), preload=True))) as server:
        url = server.url + "/v1/chat/completions"
        engine = model.batch_engine
        fits = body("Say OK.", max_tokens=8)
        past_budget = body("Count from 1 to 300, one number per line.", max_tokens=160)  # prompt + 160 > 128
        with cf.ThreadPoolExecutor(2) as pool:
            small, big = list(pool.map(lambda b: httpx.post(url, json=b, timeout=300), [fits, past_budget]))
        assert small.status_code == 200 and big.status_code == 200
        usage = big.json()["usage"]
        assert big.json()["choices"][0]["finish_reason"] == "length" and usage["completion_tokens"] == 160
        assert engine.rows <= 8  # only the request that fits a sequence went through the batch
        past_context = httpx.post(url, json=body("word " * 3000), timeout=300)  # > the 2048-token context
        assert past_context.status_code == 400 and "does not fit" in past_context.json()["error"]["message"]
        assert "Traceback" not in past_context.text
        assert httpx.post(url, json=fits, timeout=300).status_code == 200
