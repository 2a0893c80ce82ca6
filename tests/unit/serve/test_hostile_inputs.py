"""Hostile inputs get a 4xx that names the field, never a 500 or a traceback: bad JSON, wrong types, huge ids,
non-UTF-8 bytes, lone surrogates, unknown run ids, bad SSE `Last-Event-ID`s, forged cookies; and the console's
errors are HTML pages, never JSON or a traceback."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from unit.console.helpers import client as console_client
from unit.console.helpers import console_app, solve
from unit.serve.helpers import EchoModel, FakeSandbox, make_app

from nativa.config import Settings
from nativa.serve import ServeConfig
from nativa.serve.console import auth, routes_runs
from nativa.serve.console.board import RunBoard
from nativa.serve.lambda_handler import LambdaContainer

CHAT = {"model": "small", "messages": [{"role": "user", "content": "hi"}]}
JSON = {"content-type": "application/json"}


@pytest.fixture
def client(settings: Settings) -> TestClient:
    return TestClient(make_app(settings, EchoModel(), sandbox=FakeSandbox()), raise_server_exceptions=False)


def refused(response: Any, status: int, param: str | None) -> dict[str, Any]:
    """A client mistake in the JSON error shape: the status, the field named, no traceback."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param, error
    assert "error_id" not in error and "Traceback" not in response.text and 'File "' not in response.text
    return error


@pytest.mark.parametrize(("body", "status", "param"), [
    (b'{"model": "small", "messages": [', 400, None),  # not JSON: the message says so
    (b"\xff\xfe{\x00}", 400, "body"),  # not UTF-8
    (b'{"model": "small", "messages": [{"role": "user", "content": "caf\xe9"}]}', 400, "body"),  # Latin-1
    (b'{"model": "small", "messages": [{"role": "user", "content": "\\ud800"}]}', 400, "messages[0].content"),
    (b'{"model": "small", "messages": [{"role": "user", "content": "ok"}], "stop": ["\\udfff x"]}', 400, "stop[0]"),
    (b'{"model": "small", "messages": "hi"}', 422, "messages"),
    (b'{"model": "small", "messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"}', 422, "max_tokens"),
    (b'[1, 2]', 400, None),
], ids=["truncated", "not-utf8", "latin1", "lone-surrogate", "surrogate-in-list", "wrong-type", "bad-int",
        "not-an-object"])
def test_bad_chat_bodies(client: TestClient, body: bytes, status: int, param: str | None) -> None:
    error = refused(client.post("/v1/chat/completions", content=body, headers=JSON), status, param)
    assert error["message"]


def test_lone_surrogates_and_numbers_json_has_not_are_400_naming_the_field(client: TestClient) -> None:
    code = b'{"task": "add \\ud83d numbers", "tests": "assert True"}'
    refused(client.post("/v1/code", content=code, headers=JSON), 400, "task")
    memory = b'{"text": "fine", "metadata": {"k\\udc00": 1}}'
    refused(client.post("/v1/memories", content=memory, headers=JSON), 400, "metadata.k\\udc00")
    for number in (b"Infinity", b"-Infinity", b"NaN"):  # not JSON, though Python's reader takes them
        refused(client.post("/v1/memories", content=b'{"text": "x", "ttl_s": ' + number + b"}", headers=JSON), 400,
                "ttl_s")
    refused(client.post("/v1/chat/completions", content=b'{"model": "small", "messages": [{"role": "user", '
                        b'"content": "hi"}], "max_tokens": ' + b"9" * 5000 + b"}", headers=JSON), 400, "body")
    pair = '{"model": "small", "messages": [{"role": "user", "content": "\\ud83d\\ude00"}]}'  # a real emoji
    assert client.post("/v1/chat/completions", content=pair.encode(), headers=JSON).status_code == 200


@pytest.mark.parametrize(("path", "status", "param"), [
    ("/v1/runs/" + "r" * 5000, 422, "path.run_id"),
    ("/v1/runs/run_nope", 404, "run_id"),
    ("/v1/runs/bad%20id!", 422, "path.run_id"),
    ("/v1/memories/99999999999999999999999999", 422, "path.memory_id"),
    ("/v1/sessions/" + "s" * 5000, 422, "path.name"),
    ("/v1/sessions/%FF%FE", 404, "session"),
    ("/v1/sessions/x?limit=lots", 422, "query.limit"),
], ids=["huge-run-id", "unknown-run", "bad-run-id", "huge-memory-id", "huge-session", "non-utf8-name", "bad-query"])
def test_bad_ids_and_queries(client: TestClient, path: str, status: int, param: str) -> None:
    method = client.delete if path.startswith("/v1/memories/") else client.get
    refused(method(path), status, param)


def test_approving_an_unknown_run_is_404_naming_it(client: TestClient) -> None:
    refused(client.post("/v1/runs/run_nope/approve", json={}), 404, "run_id")
    refused(client.post("/v1/runs/run_nope/approve", json={"scope": 7}), 422, "scope")


def test_the_api_ignores_a_last_event_id_it_never_sent(client: TestClient) -> None:
    """POST streams cannot resume (they carry no ids): a garbage header changes nothing."""
    r = client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers={"last-event-id": "\x7f" * 300})
    assert r.status_code == 200 and r.text.endswith("data: [DONE]\n\n")


@pytest.mark.parametrize(("event", "param"), [
    ({"Records": ["not an object"]}, "Records[0]"),
    ({"Records": [{"eventSource": "aws:kinesis"}]}, "Records[0].eventSource"),
    ({"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": 1}}}]}, "Records[0].s3"),
    ({"text": "\ud800 lone"}, "text"),
    ({"Records": [{"eventSource": "aws:sqs", "body": "{not json"}]}, None),  # `param` stays null, as it was;
    ({"Records": [{"eventSource": "aws:sqs", "body": "[1]"}]}, None),  # the message names the field
    ({"body": 42}, None),
], ids=["record-not-object", "unknown-source", "s3-bad-bucket", "lone-surrogate", "body-not-json", "body-not-object",
        "body-number"])
def test_bad_events_are_400_naming_the_field(settings: Settings, event: dict[str, Any], param: str | None) -> None:
    box = LambdaContainer(settings, config=ServeConfig(models=("small",)), model_factory=lambda _n: EchoModel())
    out = box(event)
    assert out["statusCode"] == 400 and out["error"]["param"] == param, out
    assert "body" in out["error"]["message"] if param is None else param.split(".")[0].split("[")[0] in out["error"]["message"]
    assert "Traceback" not in json.dumps(out)


# -- the console: HTML error pages, never JSON or a traceback -----------------------------------------------------
def page_error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html"), response.headers
    assert "content-security-policy" in response.headers
    assert "Traceback" not in response.text and 'File "' not in response.text
    found = re.search(r'id="error-message">([^<]*)<', response.text)
    assert found, response.text
    return found.group(1)


def test_a_fault_in_a_console_page_is_an_html_page_with_the_error_id(settings: Settings,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise KeyError("/srv/secret/path")

    monkeypatch.setattr(routes_runs, "list_runs", broken)
    app, _ = console_app(settings)
    message = page_error(console_client(app).get("/ui/runs"), 500)
    assert re.search(r"err_[0-9a-f]{12}", message) and "secret" not in message


def test_a_fault_in_the_console_stream_is_its_last_event(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(self: RunBoard, run_id: str) -> Any:
        yield {"type": "attempt", "number": 1}
        raise RuntimeError("/srv/secret/path")

    app, _ = console_app(settings)
    c = console_client(app)
    solve(c)
    monkeypatch.setattr(RunBoard, "follow", broken)
    r = c.get("/ui/runs/live-1/events")
    assert r.status_code == 200 and "secret" not in r.text and "Traceback" not in r.text
    assert "event: progress" in r.text and re.search(r"event: error\ndata: .*err_[0-9a-f]{12}", r.text)


@pytest.mark.parametrize(("path", "status"), [
    ("/ui/no-such-page", 404),
    ("/ui/memory?k=%C2%B2", 400),  # '²' passes str.isdigit() but not int()
    ("/ui/memory/forget/" + "9" * 5000, 400),  # more digits than int() takes
    ("/ui/memory/forget/%C2%B3", 400),
    ("/ui/runs/s-%C2%B2", 404),
    ("/ui/runs/s-" + "7" * 5000, 404),
    ("/ui/traces/not-a-hex-id", 400),
], ids=["unknown-page", "superscript-k", "huge-memory-id", "superscript-id", "superscript-run", "huge-run",
        "bad-trace"])
def test_hostile_console_urls_are_error_pages(settings: Settings, path: str, status: int) -> None:
    app, _ = console_app(settings)
    page_error(console_client(app).get(path), status)


def test_a_forged_login_cookie_of_odd_digits_signs_nobody_in(settings: Settings) -> None:
    app, _ = console_app(settings, api_key="k-123")
    for forged in (b"\xb2.abc", b"\xb9\xb2\xb3.abc", b"9" * 5000 + b".abc",
                   str(int(time.time())).encode() + b".\xe9t\xe9"):  # fresh, so the signature is compared
        r = console_client(app).get("/ui/runs", headers={"cookie": b"nativa_console=" + forged})
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login"), forged
    assert not auth.token_valid("k-123", "²." + "0" * 64)


def test_a_csrf_cookie_or_field_of_odd_characters_is_refused_not_a_fault(settings: Settings) -> None:
    app, _ = console_app(settings)
    c = console_client(app)
    odd = "\xe9" * 43  # the latin-1 reading of raw header bytes: 43 letters, none of them ASCII
    r = c.post("/ui/logout", data={"csrf": odd}, headers={"cookie": b"nativa_csrf=" + odd.encode("latin-1")})
    assert "token" in page_error(r, 403)
    page = c.get("/ui/runs", headers={"cookie": b"nativa_csrf=" + odd.encode("latin-1")})
    assert page.status_code == 200 and "nativa_csrf=" in page.headers.get("set-cookie", "")  # a fresh token


def test_the_console_stream_resumes_after_last_event_id_and_refuses_a_bad_one(settings: Settings) -> None:
    app, _ = console_app(settings)
    c = console_client(app)
    solve(c)
    full = c.get("/ui/runs/live-1/events").text
    ids = [int(i) for i in re.findall(r"^id: (\d+)$", full, re.MULTILINE)]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) >= 2
    resumed = c.get("/ui/runs/live-1/events", headers={"last-event-id": str(ids[-2])}).text
    assert re.findall(r"^id: (\d+)$", resumed, re.MULTILINE) == [str(ids[-1])] and "event: end" in resumed
    for bad in ("abc", "-1", b"\xb2", "9" * 40, "1e3"):
        message = page_error(c.get("/ui/runs/live-1/events", headers={"last-event-id": bad}), 400)
        assert "Last-Event-ID" in message, bad


def test_a_broken_console_form_is_an_error_page(settings: Settings) -> None:
    app, _ = console_app(settings)
    c = console_client(app)
    no_boundary = c.post("/ui/logout", content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data"})
    assert "boundary" in page_error(no_boundary, 400)
    no_token = c.post("/ui/logout", content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data; boundary=x"})
    assert "token" in page_error(no_token, 403)
