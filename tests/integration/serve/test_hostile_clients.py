"""A real uvicorn on 127.0.0.1 against hostile clients (issue 11, findings 9 and 10): a trace id must not
stick to later requests on a keep-alive connection after a large body; half-sent request heads and bodies,
dripped byte by byte or chunk by chunk, are answered 408 and closed (before any key check); idle
connections are closed; connections beyond the limit are refused instead of piling up.

Every wait is bounded: a client that drips gives up long after the server should have cut it.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from unit.serve.helpers import EchoModel, make_app

from nativa.config import Settings
from nativa.serve.runner import ServerThread

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

BIG = {"model": "small", "messages": [{"role": "user", "content": "word " * 30_000}], "max_tokens": 2}
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@contextmanager
def raw(url: str) -> Iterator[socket.socket]:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    try:
        yield sock
    finally:
        sock.close()


def drip(sock: socket.socket, head: bytes, piece: bytes, *, pieces: int = 60, every_s: float = 0.2) -> tuple[bytes, int]:
    """Send `head`, then `piece` every `every_s`, until the server answers or closes; (what came back, how many
    pieces were sent). A server that never cuts the client lets all `pieces` go out."""
    sock.sendall(head)
    sent = 0
    for sent in range(pieces):
        readable, _, _ = select.select([sock], [], [], every_s)
        if readable:
            return _read_to_close(sock), sent
        try:
            sock.sendall(piece)
        except OSError:  # the server closed while we were sending
            return _read_to_close(sock), sent
    return b"", pieces


def _read_to_close(sock: socket.socket, limit_s: float = 10.0) -> bytes:
    data = b""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data


def closed_by_server(sock: socket.socket, limit_s: float = 15.0) -> bool:
    """True when the server closes an idle connection (EOF) within `limit_s`."""
    sock.settimeout(limit_s)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@pytest.mark.parametrize("reset", [True, False], ids=["uvicorn-resets-context", "server-leaks-context"])
def test_trace_id_is_new_per_request_on_a_keep_alive_connection_after_a_large_body(
        settings: Settings, spans: InMemorySpanExporter, reset: bool) -> None:
    thread = ServerThread(make_app(settings, EchoModel()))
    thread.server.config.reset_contextvars = reset  # False: as under a server that leaks (the middleware holds)
    with thread as server, httpx.Client(base_url=server.url) as client:
        first = client.post("/v1/chat/completions", json=BIG)
        assert first.status_code == 200 and len(first.request.content) > 100_000
        ids = [first.headers["x-trace-id"]] + [client.get("/healthz").headers["x-trace-id"] for _ in range(3)]
        assert len(set(ids)) == 4, ids  # each request is its own trace
        again = client.post("/v1/chat/completions", json=BIG)
        after = client.get("/healthz").headers["x-trace-id"]
        assert len({*ids, again.headers["x-trace-id"], after}) == 6
    server_spans = [s for s in spans.get_finished_spans() if s.name in ("GET /healthz", "POST /v1/chat/completions")]
    assert len(server_spans) == 6 and all(s.parent is None for s in server_spans)  # roots, not children


def test_a_traceparent_is_honoured_and_does_not_stick(settings: Settings, spans: InMemorySpanExporter) -> None:
    with ServerThread(make_app(settings, EchoModel())) as server, httpx.Client(base_url=server.url) as client:
        joined = client.post("/v1/chat/completions", json=BIG, headers={"traceparent": TRACEPARENT})
        assert joined.headers["x-trace-id"] == "0af7651916cd43dd8448eb211c80319c"
        assert joined.json()["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
        later = client.get("/healthz")
        assert later.headers["x-trace-id"] != "0af7651916cd43dd8448eb211c80319c"
    parent = next(s for s in spans.get_finished_spans() if s.name == "POST /v1/chat/completions").parent
    assert parent is not None and format(parent.span_id, "016x") == "b7ad6b7169203331"


def test_request_heads_dripped_byte_by_byte_are_cut_with_408(settings: Settings) -> None:
    app = make_app(settings, EchoModel(), header_timeout_s=1.0)
    with ServerThread(app) as server, raw(server.url) as sock:
        answer, sent = drip(sock, b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Pad: ", b"a")
    assert sent < 60, "the server let a request head drip for 12 s under a 1 s header timeout"
    assert answer.startswith(b"HTTP/1.1 408")
    error = json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]
    assert error["code"] == "request_timeout" and error["type"] == "timeout"


def test_a_slow_second_request_on_a_keep_alive_connection_is_cut_too(settings: Settings) -> None:
    app = make_app(settings, EchoModel(), header_timeout_s=1.0)
    with ServerThread(app) as server, raw(server.url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        first = b""
        while not first.endswith(b'{"status":"ok"}'):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        answer, sent = drip(sock, b"GET /healthz HTTP/1.1\r\n", b"X")
    assert sent < 60 and answer.startswith(b"HTTP/1.1 408")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_bodies_dripped_slowly_are_408_before_the_key_check(settings: Settings, chunked: bool) -> None:
    app = make_app(settings, EchoModel(), api_key="k-1", body_timeout_s=1.0)
    if chunked:
        head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"
        piece = b"1\r\n \r\n"
    else:
        head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n{\"mod"
        piece = b" "
    with ServerThread(app) as server, raw(server.url) as sock:
        answer, sent = drip(sock, head, piece)
    assert sent < 60, "the server waited 12 s for a body under a 1 s body timeout"
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 408"), answer[:200]  # not 401: the key check never ran
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"connection: close" in headers.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout" and "body" in error["message"]


def test_many_half_sent_bodies_are_all_cut(settings: Settings) -> None:
    app = make_app(settings, EchoModel(), body_timeout_s=1.0)
    with ServerThread(app) as server:
        host, port = server.url.removeprefix("http://").split(":")
        socks = [socket.create_connection((host, int(port)), timeout=15) for _ in range(30)]
        try:
            for sock in socks:
                sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n12345")
            answers = [_read_to_close(sock, 15.0) for sock in socks]
        finally:
            for sock in socks:
                sock.close()
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers), {a[:20] for a in answers}
        assert httpx.get(server.url + "/healthz").status_code == 200


def test_idle_connections_are_closed_and_the_connection_limit_holds(settings: Settings) -> None:
    app = make_app(settings, EchoModel(), header_timeout_s=1.0, max_connections=4)
    with ServerThread(app) as server:
        host, port = server.url.removeprefix("http://").split(":")
        idle = [socket.create_connection((host, int(port)), timeout=15) for _ in range(10)]
        try:
            time.sleep(0.2)  # let the server accept them
            busy = httpx.get(server.url + "/healthz", timeout=10)
            assert busy.status_code == 503  # beyond --max-connections: refused, not queued
            assert all(closed_by_server(sock) for sock in idle)
        finally:
            for sock in idle:
                sock.close()
        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
