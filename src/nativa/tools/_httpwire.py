"""What the HTTP tool reads off the wire, bounded: one total deadline at the socket, and a body decoded by
nativa itself, layer by layer, with the decoded size capped while decoding.

httpx's timeouts are per operation (connect, each read, each write), so a server that sends one byte of its
headers every second holds a 3 s request for as long as it likes. `DeadlineBackend` is an httpcore network
backend whose every connect, TLS handshake, read and write gets at most the time left until the deadline of
the current call (`total_deadline`, a context variable set by the fetcher): the total covers connecting,
the request, the headers and the body.

httpx decodes `Content-Encoding` before any size check, so 3.5 kB of `gzip, gzip` became 2 GB in memory.
`read_body` takes the raw bytes (`iter_raw`) and decodes them itself: at most `MAX_LAYERS` encodings (gzip
and deflate), each layer asked for at most the bytes the next one needs (zlib's `max_length`), the output
of every layer counted, and decoding stops as soon as the caller's cap is reached.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import httpcore
import httpx

MAX_LAYERS = 2
SUPPORTED_ENCODINGS = ("gzip", "x-gzip", "deflate")
ACCEPT_ENCODING = "gzip, deflate"
_CHUNK = 65_536
_DEADLINE: ContextVar[float | None] = ContextVar("nativa_http_deadline", default=None)


# -- one deadline over the whole exchange ----------------------------------------------------------------
@contextmanager
def total_deadline(seconds: float) -> Iterator[float]:
    """Every network operation of this call (in this context) ends by `seconds` from now."""
    ends = time.monotonic() + seconds
    token = _DEADLINE.set(ends)
    try:
        yield ends
    finally:
        _DEADLINE.reset(token)


def _left(timeout: float | None, timed_out: type[Exception]) -> float | None:
    ends = _DEADLINE.get()
    if ends is None:
        return timeout
    left = ends - time.monotonic()
    if left <= 0:
        raise timed_out("the call's total time limit passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own synchronous sockets, with each operation's timeout cut to the call's time left."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        """Connect within the call's time left, and wrap the stream so every read and write is held to it too."""
        stream = self._inner.connect_tcp(host, port, _left(timeout, httpcore.ConnectTimeout), local_address,
                                         socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        """Refused: a Unix socket would reach local services the host allow-list never names."""
        raise httpcore.ConnectError("the HTTP tool does not connect to Unix sockets")

    def sleep(self, seconds: float) -> None:
        """httpcore's own sleep, unchanged: only connecting and I/O are held to the deadline."""
        self._inner.sleep(seconds)


def deadline_transport() -> httpx.HTTPTransport:
    """httpx's transport over `DeadlineBackend` (no proxies, no .netrc, certificates verified)."""
    transport = httpx.HTTPTransport(trust_env=False, verify=True)
    # httpx takes no network backend, so its pool is replaced by the same pool over ours.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(verify=True, trust_env=False), network_backend=DeadlineBackend())
    return transport


# -- decoding the body ourselves --------------------------------------------------------------------------
class _Source(Protocol):
    def read(self, n: int) -> bytes: ...


class _Raw:
    """The raw body as a pull source; each network chunk first checks the caller's clock."""

    def __init__(self, chunks: Iterator[bytes], check: Callable[[], None]) -> None:
        self._chunks = chunks
        self._check = check
        self._buffer = b""

    def read(self, n: int) -> bytes:
        while not self._buffer:
            self._check()
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buffer = chunk
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


class _Inflate:
    """One gzip or deflate layer that never produces more than it is asked for (zlib's `max_length`)."""

    def __init__(self, source: _Source, encoding: str) -> None:
        self._source = source
        self._gzip = encoding != "deflate"
        self._name = encoding
        self._d: Any = None
        self._input = b""
        self._members = 0
        self._finished = False

    def _start(self) -> Any:
        if self._gzip:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        cmf_flg = self._input[:2]  # deflate is zlib-wrapped by the RFC, raw by some servers: accept both
        zlib_wrapped = len(cmf_flg) == 2 and cmf_flg[0] & 0x0F == 8 and int.from_bytes(cmf_flg) % 31 == 0
        return zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)

    def read(self, n: int) -> bytes:
        while not self._finished:
            if not self._input:
                self._input = self._source.read(_CHUNK)
                if not self._input:
                    self._finished = True
                    break
            if self._d is None:
                self._d = self._start()
            try:
                out = self._d.decompress(self._input, n)
            except zlib.error as exc:
                if self._members:  # bytes after a complete gzip member that are not another member
                    self._finished = True
                    break
                raise ValueError(f"the response body is not valid {self._name} data ({exc})") from None
            self._input = self._d.unconsumed_tail
            if self._d.eof:
                self._members += 1
                self._input = self._d.unused_data if self._gzip else b""  # gzip may hold several members
                self._d = None
                self._finished = not self._gzip
            if out:
                return out  # type: ignore[no-any-return]
        return b""


class _Counted:
    """A layer whose total output is capped: an intermediate layer never expands without bound."""

    def __init__(self, source: _Source, budget: int) -> None:
        self._source = source
        self._budget = budget
        self.total = 0
        self.exceeded = False

    def read(self, n: int) -> bytes:
        if self.total >= self._budget:
            self.exceeded = True
            return b""
        out = self._source.read(min(n, self._budget - self.total))
        self.total += len(out)
        return out


def content_encodings(values: Iterable[str]) -> list[str]:
    """The encodings of a response in the order they were applied; ValueError if more than `MAX_LAYERS`
    or one nativa does not decode."""
    found = [e.strip().lower() for v in values for e in v.split(",")]
    found = [e for e in found if e and e != "identity"]
    if len(found) > MAX_LAYERS:
        raise ValueError(f"the response has {len(found)} content encodings ({', '.join(found)}); "
                         f"at most {MAX_LAYERS} layers are decoded")
    unknown = [e for e in found if e not in SUPPORTED_ENCODINGS]
    if unknown:
        raise ValueError(f"the response uses content encoding {unknown[0]!r}, which is not decoded; "
                         f"supported: {', '.join(SUPPORTED_ENCODINGS)}")
    return found


def read_body(raw: Iterator[bytes], encodings: list[str], max_bytes: int,
              check: Callable[[], None]) -> tuple[bytes, bool]:
    """At most `max_bytes` of the decoded body, and whether there was more (or a layer hit its cap)."""
    budget = 2 * max_bytes + _CHUNK  # what a layer may produce: compressed data is smaller than its output
    stream: _Source = _Raw(raw, check)
    layers: list[_Counted] = []
    for encoding in reversed(encodings):  # the last encoding applied is the first to undo
        layer = _Counted(_Inflate(stream, encoding), budget)
        layers.append(layer)
        stream = layer
    pieces: list[bytes] = []
    size = 0
    while size <= max_bytes:
        check()
        piece = stream.read(min(_CHUNK, max_bytes + 1 - size))
        if not piece:
            break
        pieces.append(piece)
        size += len(piece)
    truncated = size > max_bytes or any(layer.exceeded for layer in layers)
    return b"".join(pieces)[:max_bytes], truncated
