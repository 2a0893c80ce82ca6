"""No built-in exception reaches an HTTP client: a fault injected at each layer (route body, dependency, model
call, store, a stream under way, the middleware, the Lambda handler, the event handler) comes back as the
error shape (500, an error id, a generic message) with its traceback in the server log only."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from support.waiting import wait_for
from unit.serve.helpers import EchoModel, make_app

from nativa.config import Settings
from nativa.memory import Memory
from nativa.models.base import Delta, GenerationOptions, MessagesLike
from nativa.serve import ServeConfig, chat, lambda_handler, middleware
from nativa.serve.lambda_handler import LambdaContainer
from nativa.serve.state import check_key

CHAT = {"model": "small", "messages": [{"role": "user", "content": "hi"}]}
SECRET = "secret-detail-/srv/nativa/private.db"


def leaks(text: str) -> list[str]:
    """What a client must never read: the fault's own words, a traceback, source paths."""
    return [s for s in ("Traceback", 'File "', SECRET, "nativa/serve/", ".py\"", "site-packages") if s in text]


def assert_fault(response: Any, status: int = 500) -> dict[str, Any]:
    """The JSON error shape of a server fault, with nothing of the fault in it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    error = body["error"]
    assert error["type"] == "internal_error" and error["error_id"].startswith("err_")
    assert error["error_id"] in error["message"] and "trace_id" in body
    assert not leaks(response.text), leaks(response.text)
    return error


def logged(caplog: pytest.LogCaptureFixture, error_id: str) -> bool:
    """The server's log has the fault, its error id and its traceback."""
    return any(error_id in r.getMessage() and r.exc_info for r in caplog.records)


def client_of(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


class BreaksMidway(EchoModel):
    """Streams two words, then fails like a driver that lost its device."""

    def stream(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Iterator[Delta]:
        yield Delta("half")
        yield Delta(" an")
        raise OSError(SECRET)


class FailsLate(EchoModel):
    """Fails only once `release` is set: after its request has already been answered (504)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def stream(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Iterator[Delta]:
        self.started.set()
        self.release.wait(30)
        raise KeyError(SECRET)
        yield Delta("")  # a generator, like the real models


def test_a_job_that_fails_after_its_client_is_gone_is_logged_not_lost(settings: Settings,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    model = FailsLate()
    with caplog.at_level(logging.WARNING, logger="nativa.serve"), \
            TestClient(make_app(settings, model, request_timeout_s=0.5), raise_server_exceptions=False) as client:
        r = client.post("/v1/chat/completions", json=CHAT)
        assert r.status_code == 504 and not leaks(r.text)
        model.release.set()
        assert wait_for(lambda: any("abandoned" in rec.getMessage() and rec.exc_info for rec in caplog.records))


def test_a_fault_in_the_route_body(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                   caplog: pytest.LogCaptureFixture) -> None:
    def broken(**_: Any) -> None:
        raise ValueError(SECRET)

    monkeypatch.setattr(chat.tasks, "options_for", broken)
    with caplog.at_level(logging.ERROR, logger="nativa.serve"):
        error = assert_fault(client_of(make_app(settings, EchoModel())).post("/v1/chat/completions", json=CHAT))
    assert logged(caplog, error["error_id"])


def test_a_fault_in_a_dependency(settings: Settings) -> None:
    app = make_app(settings, EchoModel())

    def broken() -> None:
        raise KeyError(SECRET)

    app.dependency_overrides[check_key] = broken
    assert_fault(client_of(app).get("/v1/models"))


@pytest.mark.parametrize("exc", [KeyError(SECRET), TypeError(SECRET), UnicodeDecodeError("utf-8", b"\xff", 0, 1, SECRET),
                                 TimeoutError(SECRET), sqlite3.OperationalError(SECRET)],
                         ids=["KeyError", "TypeError", "UnicodeDecodeError", "TimeoutError", "sqlite3"])
def test_a_fault_in_the_model_call(settings: Settings, exc: BaseException) -> None:
    client = client_of(make_app(settings, EchoModel(fail=exc)))
    assert_fault(client.post("/v1/chat/completions", json=CHAT))
    streamed = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert_fault(streamed)  # failed before the first token: the status can still say so


def test_a_fault_in_the_store(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise sqlite3.OperationalError(SECRET)

    monkeypatch.setattr(Memory, "list_sessions", broken)
    monkeypatch.setattr(Memory, "session", broken)
    client = client_of(make_app(settings, EchoModel()))
    assert_fault(client.get("/v1/sessions"))
    assert_fault(client.post("/v1/chat/completions", json={**CHAT, "session": "s1"}))


def _events(text: str) -> list[tuple[str, str]]:
    """(event name or 'message', data) of each server-sent event."""
    out = []
    for block in text.split("\n\n"):
        name = re.search(r"^event: (.*)$", block, re.MULTILINE)
        data = re.search(r"^data: (.*)$", block, re.MULTILINE)
        if data:
            out.append((name.group(1) if name else "message", data.group(1)))
    return out


def test_a_fault_in_a_stream_under_way_is_its_last_event(settings: Settings) -> None:
    r = client_of(make_app(settings, BreaksMidway())).post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert r.status_code == 200 and not leaks(r.text)
    events = _events(r.text)
    assert events[-1][1] == "[DONE]"
    error = json.loads(events[-2][1])["error"]
    assert error["error_id"].startswith("err_") and error["type"] == "internal_error"


def test_a_stream_that_fails_outside_any_handler_still_ends_with_an_error_event(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """The middleware's last word: a stream whose own code does not catch its fault."""
    app = make_app(settings, EchoModel())

    async def unguarded() -> Any:
        yield b"data: {\"n\": 1}\n\n"
        raise RuntimeError(SECRET)

    app.add_api_route("/v1/test-stream", lambda: StreamingResponse(unguarded(), media_type="text/event-stream"))
    with caplog.at_level(logging.ERROR, logger="nativa.serve"):
        r = client_of(app).get("/v1/test-stream")
    assert r.status_code == 200 and not leaks(r.text)
    events = _events(r.text)
    assert events[0] == ("message", '{"n": 1}') and events[-2][0] == "error" and events[-1][1] == "[DONE]"
    error_id = json.loads(events[-2][1])["error"]["error_id"]
    assert logged(caplog, error_id)


def test_a_fault_in_the_middleware_itself_is_the_json_shape_not_starlettes_text(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(settings, EchoModel())

    def broken(*_: Any, **__: Any) -> None:
        raise AttributeError(SECRET)

    monkeypatch.setattr(middleware.tracing, "span", broken)
    r = client_of(app).get("/v1/models")
    assert r.text != "Internal Server Error"
    assert_fault(r)


@pytest.fixture
def box(settings: Settings) -> LambdaContainer:
    return LambdaContainer(settings, config=ServeConfig(models=("small",)), model_factory=lambda _n: EchoModel())


def _v2(body: str | None) -> dict[str, Any]:
    return {"version": "2.0", "routeKey": "$default", "rawPath": "/v1/chat/completions", "rawQueryString": "",
            "headers": {"content-type": "application/json", "host": "abc.lambda-url.us-east-1.on.aws"},
            "requestContext": {"http": {"method": "POST", "path": "/v1/chat/completions", "protocol": "HTTP/1.1",
                                        "sourceIp": "203.0.113.9", "userAgent": "test"},
                               "requestId": "req-2", "routeKey": "$default", "stage": "$default"},
            "body": body, "isBase64Encoded": False}


def test_a_fault_in_the_lambda_handler(box: LambdaContainer, monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError(SECRET)

    monkeypatch.setattr(box, "http", broken)
    with caplog.at_level(logging.ERROR, logger="nativa.serve"):
        http = box(_v2(json.dumps(CHAT)), None)
    assert http["statusCode"] == 500 and http["headers"]["content-type"] == "application/json"
    error = json.loads(http["body"])["error"]
    assert error["error_id"].startswith("err_") and not leaks(http["body"]) and logged(caplog, error["error_id"])
    monkeypatch.setattr(box.events, "handle", broken)
    direct = box({"text": "hi"})
    assert direct["statusCode"] == 500 and json.loads(direct["body"])["error"]["error_id"] == direct["error"]["error_id"]
    assert not leaks(json.dumps(direct))


def test_a_fault_building_the_container_for_handle_event(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> LambdaContainer:
        raise OSError(SECRET)

    monkeypatch.setattr(lambda_handler, "container", broken)
    out = lambda_handler.handle_event({"text": "x"})
    assert out["statusCode"] == 500 and out["error"]["error_id"].startswith("err_") and not leaks(json.dumps(out))


@pytest.mark.parametrize("exc", [KeyError(SECRET), OSError(SECRET), sqlite3.DatabaseError(SECRET)],
                         ids=["KeyError", "OSError", "sqlite3"])
def test_a_fault_in_the_event_handler(settings: Settings, exc: BaseException) -> None:
    container = LambdaContainer(settings, config=ServeConfig(models=("small",)),
                                model_factory=lambda _n: EchoModel(fail=exc))
    for event in ({"text": "x"}, {"Records": [{"eventSource": "aws:sqs", "body": json.dumps({"text": "x"})}]}):
        out = container(event)
        assert out["statusCode"] == 500 and out["error"]["error_id"].startswith("err_")
        assert not leaks(json.dumps(out))



class _Transport:
    """Enough of an asyncio transport for uvicorn's protocol to answer into."""

    def __init__(self) -> None:
        self.sent = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.sent += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def set_protocol(self, protocol: Any) -> None: ...


@pytest.mark.parametrize("raw", [b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n",
                                 b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n"],
                         ids=["garbage", "bad-header", "non-ascii-target"])
def test_bytes_that_are_not_http_get_the_json_shape_from_the_server_itself(settings: Settings, raw: bytes) -> None:
    """uvicorn answers these before the app runs (here its protocol object, on a transport double)."""
    import asyncio

    import uvicorn
    from uvicorn.server import ServerState

    from nativa.serve.protocol import GuardedH11Protocol

    config = uvicorn.Config(make_app(settings, EchoModel()), timeout_keep_alive=5)
    config.load()
    loop = asyncio.new_event_loop()
    try:
        protocol = GuardedH11Protocol(config=config, server_state=ServerState(), app_state={}, _loop=loop)
        transport = _Transport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        protocol.data_received(raw)
        protocol.connection_lost(None)
    finally:
        loop.close()
    head, _, body = transport.sent.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"content-type: application/json" in head.lower(), transport.sent
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_http" and "not valid HTTP/1.1" in error["message"] and transport.closed


def test_a_request_past_the_connection_limit_gets_the_json_shape(settings: Settings) -> None:
    import asyncio

    import uvicorn
    from uvicorn.server import ServerState

    from nativa.serve.protocol import GuardedH11Protocol

    config = uvicorn.Config(make_app(settings, EchoModel()), timeout_keep_alive=5, limit_concurrency=1)
    config.load()
    loop = asyncio.new_event_loop()
    try:
        state = ServerState()
        protocol = GuardedH11Protocol(config=config, server_state=state, app_state={}, _loop=loop)
        transport = _Transport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        protocol.data_received(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # limit 1, and this connection is open: over
        loop.run_until_complete(asyncio.gather(*state.tasks))
        protocol.connection_lost(None)
    finally:
        loop.close()
    head, _, body = transport.sent.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503") and b"content-type: application/json" in head.lower(), transport.sent
    assert json.loads(body)["error"]["code"] == "unavailable" and protocol.limit_concurrency == 1
