"""A real uvicorn on 127.0.0.1 with a scripted model: the official OpenAI client, backpressure (429 with
Retry-After, every accepted request completes), timeouts (504), client hang-ups and graceful shutdown.

Fast (no real model): traffic goes to loopback only, bounded in count and time.
"""

from __future__ import annotations

import concurrent.futures as cf
import socket
import threading
import time

import httpx
import openai
import pytest
from support.waiting import wait_for
from unit.serve.helpers import EchoModel, make_app

from nativa.config import Settings
from nativa.serve.runner import ServerThread

USER = [{"role": "user", "content": "hi there"}]
BODY = {"model": "small", "messages": USER}


def test_openai_client_unchanged_blocking_and_streaming(settings: Settings) -> None:
    with ServerThread(make_app(settings, EchoModel())) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(model="small", messages=USER, max_tokens=10)
        completion = raw.parse()
        assert completion.choices[0].message.content == "echo hi there"
        assert completion.usage is not None and completion.usage.completion_tokens == 3
        assert raw.headers["x-trace-id"] == completion.model_extra["trace_id"]
        stream = client.chat.completions.create(model="small", messages=USER, stream=True,
                                                stream_options={"include_usage": True})
        pieces, usage = [], None
        for chunk in stream:
            if chunk.choices:
                pieces.append(chunk.choices[0].delta.content or "")
            if chunk.usage:
                usage = chunk.usage
        assert "".join(pieces) == "echo hi there" and usage is not None and usage.total_tokens == 5
        with pytest.raises(openai.NotFoundError, match="small"):
            client.chat.completions.create(model="gpt-4o", messages=USER)
        with pytest.raises(openai.UnprocessableEntityError, match="messages"):
            client.chat.completions.create(model="small", messages=[])
        assert [m.id for m in client.models.list()] == ["small"]


def test_openai_client_with_a_key(settings: Settings) -> None:
    with ServerThread(make_app(settings, EchoModel(), api_key="k-123")) as server:
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=server.url + "/v1", api_key="wrong", max_retries=0).chat.completions.create(
                model="small", messages=USER)
        ok = openai.OpenAI(base_url=server.url + "/v1", api_key="k-123", max_retries=0)
        assert ok.chat.completions.create(model="small", messages=USER).choices[0].message.content


def test_clients_beyond_the_queue_get_429_and_accepted_ones_all_complete(settings: Settings) -> None:
    gate = threading.Event()
    model = EchoModel(gate=gate)
    clients, capacity = 10, 3  # 1 running + 2 waiting
    with ServerThread(make_app(settings, model, concurrency=1, max_queue=2)) as server:
        def call(_: int) -> httpx.Response:
            return httpx.post(server.url + "/v1/chat/completions", json=BODY, timeout=30)

        with cf.ThreadPoolExecutor(clients) as pool:
            futures = [pool.submit(call, i) for i in range(clients)]
            assert wait_for(lambda: sum(f.done() for f in futures) >= clients - capacity)
            time.sleep(0.1)
            early = [f.result() for f in futures if f.done()]
            assert len(early) == clients - capacity and {r.status_code for r in early} == {429}
            assert all(int(r.headers["retry-after"]) >= 1 for r in early)
            assert all(r.json()["error"]["code"] == "queue_full" for r in early)
            gate.set()
            results = [f.result() for f in futures]
        accepted = [r for r in results if r.status_code == 200]
        assert len(accepted) == capacity and model.finished == capacity
        assert all(r.json()["choices"][0]["message"]["content"] == "echo hi there" for r in accepted)
        metrics = httpx.get(server.url + "/metrics").text
        assert f'nativa_queue_rejected_total{{model="small"}} {float(clients - capacity)}' in metrics


def test_timeout_is_504_and_stops_the_model(settings: Settings) -> None:
    model = EchoModel(delay_s=0.05, reply=" ".join(["word"] * 400))
    with ServerThread(make_app(settings, model, request_timeout_s=0.5)) as server:
        began = time.monotonic()
        r = httpx.post(server.url + "/v1/chat/completions", json=BODY | {"max_tokens": 400}, timeout=30)
        assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
        assert time.monotonic() - began < 5
        assert model.cancelled.wait(5) and model.tokens < 100  # stopped within a token, not after 400
        assert r.headers["x-trace-id"]
        assert wait_for(lambda: 'nativa_jobs_cancelled_total{reason="timeout"} 1.0' in
                        httpx.get(server.url + "/metrics").text)


def test_a_client_that_hangs_up_cancels_its_work(settings: Settings) -> None:
    model = EchoModel(delay_s=0.05, reply=" ".join(["word"] * 400))
    with ServerThread(make_app(settings, model)) as server:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(server.url + "/v1/chat/completions", json=BODY | {"max_tokens": 400}, timeout=0.5)
        assert model.cancelled.wait(5) and model.tokens < 100

    streaming = EchoModel(delay_s=0.05, reply=" ".join(["word"] * 400))
    with ServerThread(make_app(settings, streaming)) as server:
        with httpx.stream("POST", server.url + "/v1/chat/completions", timeout=10,
                          json=BODY | {"max_tokens": 400, "stream": True}) as response:
            for n, _ in enumerate(response.iter_lines()):
                if n > 5:
                    break  # closing the stream hangs up
        assert streaming.cancelled.wait(5) and streaming.tokens < 100


def test_graceful_shutdown_finishes_in_flight_work_and_refuses_new(settings: Settings) -> None:
    model = EchoModel(delay_s=0.02, reply=" ".join(["word"] * 40))
    server = ServerThread(make_app(settings, model), graceful_timeout_s=10).start()
    with cf.ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(httpx.post, server.url + "/v1/chat/completions",
                                json=BODY | {"max_tokens": 40}, timeout=30)
        assert model.started.wait(5)
        server.server.should_exit = True
        response = in_flight.result()
    server.thread.join(15)
    assert response.status_code == 200 and len(response.json()["choices"][0]["message"]["content"].split()) == 40
    assert not server.thread.is_alive() and model.finished == 1
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=1):
        pass


def test_shutdown_past_the_grace_period_stops_the_model_between_tokens(settings: Settings) -> None:
    model = EchoModel(delay_s=0.05, reply=" ".join(["word"] * 400))
    server = ServerThread(make_app(settings, model), graceful_timeout_s=0.5).start()
    with cf.ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(httpx.post, server.url + "/v1/chat/completions",
                                json=BODY | {"max_tokens": 400}, timeout=30)
        assert model.started.wait(5)
        began = time.monotonic()
        server.server.should_exit = True
        server.thread.join(15)
        with pytest.raises(httpx.HTTPError):
            in_flight.result().raise_for_status()
    assert not server.thread.is_alive() and time.monotonic() - began < 10
    assert model.cancelled.wait(5) and model.tokens < 200 and model.finished == 0
