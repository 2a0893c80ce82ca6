"""Continuous batching behind a real uvicorn on 127.0.0.1, with a batching model over a fake decode step:
concurrent requests share steps, a full batch queues then refuses (429), a hang-up or timeout frees its
sequence, and a full KV cache is a clean 503. Fast: no real model.
"""

from __future__ import annotations

import concurrent.futures as cf

import httpx
import pytest
from support.fake_batch import FakeBatchingModel
from support.waiting import wait_for
from unit.serve.helpers import make_app

from nativa.config import Settings
from nativa.errors import BatchCapacityError
from nativa.serve.runner import ServerThread

pytestmark = pytest.mark.integration


def body(text: str, **extra: object) -> dict[str, object]:
    return {"model": "small", "messages": [{"role": "user", "content": text}], "max_tokens": 400} | extra


def test_concurrent_requests_join_one_batch(settings: Settings) -> None:
    model = FakeBatchingModel(max_batch=3, step_delay_s=0.005)
    with ServerThread(make_app(settings, model, max_queue=8)) as server:
        texts = [f"request number {i} " * 3 for i in range(6)]
        with cf.ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda t: httpx.post(server.url + "/v1/chat/completions", json=body(t),
                                                         timeout=60), texts))
        assert [a.status_code for a in answers] == [200] * 6
        assert [a.json()["choices"][0]["message"]["content"] for a in answers] == [f"echo {t}" for t in texts]
        assert max(model.backend.steps) == 3  # three sequences per decode step, never more
        assert sum(model.backend.steps) > 2 * len(model.backend.steps)  # most steps were shared
        assert model.streamed == 6 and model.batch_running == 0


def test_a_client_that_hangs_up_mid_stream_frees_its_sequence(settings: Settings) -> None:
    model = FakeBatchingModel(max_batch=2, step_delay_s=0.01, reply="z" * 400)
    with ServerThread(make_app(settings, model)) as server:
        with httpx.stream("POST", server.url + "/v1/chat/completions", timeout=10,
                          json=body("long", stream=True)) as response:
            for n, _ in enumerate(response.iter_lines()):
                if n > 5:
                    break  # closing the stream hangs up
        assert wait_for(lambda: model.batch_running == 0)
        assert len(model.backend.steps) < 200  # it stopped, it did not decode 400 tokens for nobody
        after = httpx.post(server.url + "/v1/chat/completions", json=body("next", max_tokens=9), timeout=30)
        assert after.status_code == 200 and after.json()["choices"][0]["message"]["content"] == "z" * 9


def test_a_full_batch_queues_then_refuses_with_429(settings: Settings) -> None:
    model = FakeBatchingModel(max_batch=2)
    model.backend.hold.clear()  # the batch's steps wait, so its two sequences stay taken
    with ServerThread(make_app(settings, model, max_queue=1)) as server:
        with cf.ThreadPoolExecutor(5) as pool:
            futures = [pool.submit(httpx.post, server.url + "/v1/chat/completions", json=body(f"r{i}"),
                                   timeout=30) for i in range(5)]
            assert wait_for(lambda: sum(f.done() for f in futures) >= 2)
            refused = [f.result() for f in futures if f.done()]
            assert {r.status_code for r in refused} == {429}
            assert all(r.json()["error"]["code"] == "queue_full" for r in refused)
            metrics = httpx.get(server.url + "/metrics").text
            assert 'nativa_queue_running{model="small"} 2.0' in metrics  # the gate is the batch's width
            assert 'nativa_batch_sequences{model="small"}' in metrics
            model.backend.hold.set()
            done = [f.result() for f in futures]
        assert sorted(r.status_code for r in done) == [200, 200, 200, 429, 429]


def test_a_full_kv_cache_is_a_clean_503(settings: Settings) -> None:
    model = FakeBatchingModel(max_batch=2)
    model.backend.fail_next_decode = BatchCapacityError("the batched KV cache has no room; retry shortly")
    with ServerThread(make_app(settings, model)) as server:
        r = httpx.post(server.url + "/v1/chat/completions", json=body("hello"), timeout=30)
        assert r.status_code == 503 and r.json()["error"]["code"] == "batch_full"
        assert r.headers["retry-after"] == "1" and "Traceback" not in r.text
        ok = httpx.post(server.url + "/v1/chat/completions", json=body("again"), timeout=30)
        assert ok.status_code == 200


def test_timeout_is_504_and_drops_the_sequence(settings: Settings) -> None:
    model = FakeBatchingModel(max_batch=2, step_delay_s=0.01, reply="w" * 400)
    with ServerThread(make_app(settings, model, request_timeout_s=0.5)) as server:
        r = httpx.post(server.url + "/v1/chat/completions", json=body("slow"), timeout=30)
        assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
        assert wait_for(lambda: model.batch_running == 0)
        assert len(model.backend.steps) < 200
