"""The HTTP tool against hostile servers on 127.0.0.1 (issue 11, findings 4, 6 and 8): compression bombs
of one and two layers (gzip, deflate, mixed, many gzip members), too many layers, headers and bodies dripped
byte by byte, and redirects that carry credentials to another port or scheme of the same host.

Memory is measured with tracemalloc (bytes objects the decoders make are Python allocations), never time:
a dripping server notes whether the client was still there when its drip ended.
"""

from __future__ import annotations

import functools
import gzip
import socketserver
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import httpx
import pytest

from nativa.tools.http import HTTPFetcher, HTTPFetchError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

EXPANDED = 256 * 1024 * 1024  # what each bomb expands to


def _deflate(data_chunks: Iterator[bytes], wbits: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return b"".join(c.compress(chunk) for chunk in data_chunks) + c.flush()


def _zeros(total: int) -> Iterator[bytes]:
    block = bytes(1024 * 1024)
    for _ in range(total // len(block)):
        yield block


@functools.cache
def bodies() -> dict[str, tuple[list[tuple[str, str]], bytes]]:
    """Built once, on first use (a few seconds): each bomb is a few kB to 256 kB on the wire."""
    bomb = _deflate(_zeros(EXPANDED), 16 + zlib.MAX_WBITS)
    return {
    "/gzip": ([("Content-Encoding", "gzip")], bomb),
    "/gzip-gzip": ([("Content-Encoding", "gzip, gzip")], gzip.compress(bomb, 9)),
    "/gzip-gzip-two-headers": ([("Content-Encoding", "gzip"), ("Content-Encoding", "gzip")],
                               gzip.compress(bomb, 9)),
    "/deflate": ([("Content-Encoding", "deflate")], _deflate(_zeros(EXPANDED), zlib.MAX_WBITS)),
    "/raw-deflate": ([("Content-Encoding", "deflate")], _deflate(_zeros(EXPANDED), -zlib.MAX_WBITS)),
    "/deflate-gzip": ([("Content-Encoding", "deflate, gzip")],
                      gzip.compress(_deflate(_zeros(EXPANDED), zlib.MAX_WBITS), 9)),
    "/members": ([("Content-Encoding", "gzip")], gzip.compress(bytes(4 * 1024 * 1024), 9) * 64),
    "/triple": ([("Content-Encoding", "gzip, gzip, gzip")], gzip.compress(gzip.compress(bomb))),
    "/br": ([("Content-Encoding", "br")], b"\x0b\x02\x80hello\x03"),
    "/small": ([("Content-Encoding", "gzip")], gzip.compress(b'{"ok": true}')),
    "/small-deflate": ([("Content-Encoding", "deflate")], zlib.compress(b"plain text")),
    }


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[dict[str, str]] = []
        self.drip_finished = threading.Event()
        self.client_gone = threading.Event()
        self.other_port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        request_line = self.rfile.readline().decode("latin-1")
        headers: dict[str, str] = {}
        while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        path = request_line.split(" ")[1] if " " in request_line else "/"
        self.server.seen.append({"path": path, **headers})
        try:
            self._answer(path)
        except OSError:  # the client hung up: for a drip, that is the point
            self.server.client_gone.set()

    def _send(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Content-Type: text/plain", "Connection: close",
                *(f"{k}: {v}" for k, v in headers)]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    def _answer(self, path: str) -> None:
        if path in bodies():
            headers, body = bodies()[path]
            self._send("200 OK", headers, body)
        elif path == "/drip-headers":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            self._drip(b"a", 40)
            self.wfile.write(b"\r\nContent-Length: 2\r\n\r\nok")
        elif path == "/drip-body":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            self._drip(b"a", 40)
        elif path == "/drip-chunked":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            self._drip(b"1\r\na\r\n", 40)
        elif path.startswith("/to-port"):
            self._send("302 Found", [("Location", f"http://127.0.0.1:{self.server.other_port}/landed")], b"")
        elif path.startswith("/to-https"):
            self._send("302 Found", [("Location", f"https://127.0.0.1:{self.server.server_address[1]}/x")], b"")
        else:
            self._send("200 OK", [], b"landed")

    def _drip(self, piece: bytes, count: int) -> None:
        for _ in range(count):
            self.wfile.write(piece)
            self.wfile.flush()
            time.sleep(0.25)
        self.server.drip_finished.set()  # reached only if the client stayed for all 10 s


@pytest.fixture
def server() -> Iterator[_Server]:
    bodies()  # build the bombs before the clock of any fetch starts (seconds on a loaded machine)
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def other(server: _Server) -> Iterator[_Server]:
    srv = _Server()
    server.other_port = srv.server_address[1]
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def peak_mb(call: Callable[[], object]) -> tuple[object, float]:
    tracemalloc.start()
    try:
        try:
            result: object = call()
        except HTTPFetchError as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("path", ["/gzip", "/gzip-gzip", "/gzip-gzip-two-headers", "/deflate", "/raw-deflate",
                                  "/deflate-gzip", "/members"])
def test_compression_bombs_are_capped_while_decoding(server: _Server, path: str) -> None:
    fetcher = HTTPFetcher(["127.0.0.1"], allow_private=True, timeout_s=10, max_bytes=100_000)
    result, peak = peak_mb(lambda: fetcher.fetch(server.url + path))
    assert peak < 16, f"decoding {path} took {peak:.0f} MB for a 100 kB cap"
    assert not isinstance(result, Exception), result
    assert result.truncated and result.size == 100_000  # type: ignore[attr-defined]


def test_more_than_two_encoding_layers_are_refused(server: _Server) -> None:
    fetcher = HTTPFetcher(["127.0.0.1"], allow_private=True, timeout_s=10)
    with pytest.raises(HTTPFetchError, match=r"3 content encodings \(gzip, gzip, gzip\); at most 2"):
        fetcher.fetch(server.url + "/triple")
    with pytest.raises(HTTPFetchError, match="content encoding 'br'.*supported: gzip"):
        fetcher.fetch(server.url + "/br")


def test_ordinary_compressed_responses_still_decode(server: _Server) -> None:
    fetcher = HTTPFetcher(["127.0.0.1"], allow_private=True, timeout_s=10)
    assert fetcher.fetch(server.url + "/small").text == '{"ok": true}'
    assert fetcher.fetch(server.url + "/small-deflate").text == "plain text"
    assert server.seen[0]["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("path", ["/drip-headers", "/drip-body", "/drip-chunked"])
def test_the_total_timeout_holds_while_headers_or_body_drip(server: _Server, path: str) -> None:
    fetcher = HTTPFetcher(["127.0.0.1"], allow_private=True, timeout_s=1.5)
    with pytest.raises(HTTPFetchError, match="timed out after 1.5 s"):
        fetcher.fetch(server.url + path)
    assert server.client_gone.wait(15) and not server.drip_finished.is_set(), \
        "the client stayed for the whole 10 s drip under a 1.5 s limit"


def test_credentials_stay_with_their_origin_across_redirects(server: _Server, other: _Server) -> None:
    secret = {"Authorization": "Bearer s3cret"}
    for key in ("127.0.0.1", f"127.0.0.1:{server.server_address[1]}", server.url):
        server.seen.clear()
        other.seen.clear()
        fetcher = HTTPFetcher(["127.0.0.1"], allow_private=True, timeout_s=5, credentials={key: secret})
        assert fetcher.fetch(server.url + "/to-port").text == "landed"
        assert server.seen[0].get("authorization") == "Bearer s3cret", key
        assert "authorization" not in other.seen[0], f"credentials for {key!r} went to another port"
    server.seen.clear()
    with pytest.raises(HTTPFetchError):  # the https hop fails (no TLS here), but never with the secret
        HTTPFetcher(["127.0.0.1"], allow_private=True, timeout_s=5, credentials={"127.0.0.1": secret}).fetch(
            server.url + "/to-https")
    assert server.seen[0]["authorization"] == "Bearer s3cret" and len(server.seen) >= 1
    assert all("authorization" not in seen for seen in server.seen[1:])


def test_credentials_for_an_explicit_origin_do_not_follow_a_downgrade() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/a":
            return httpx.Response(302, headers={"location": "http://api.test/b"})
        return httpx.Response(200, text="done")

    resolver = lambda host, port: ["93.184.216.34"]
    for key in ("api.test", "https://api.test"):
        seen.clear()
        fetcher = HTTPFetcher(["api.test"], resolver=resolver, transport=httpx.MockTransport(handler),
                              credentials={key: {"Authorization": "Bearer s3cret"}})
        fetcher.fetch("https://api.test/a")
        assert seen[0].headers.get("authorization") == "Bearer s3cret"
        assert "authorization" not in seen[1].headers, key
