"""uvicorn's HTTP/1.1 protocol with a deadline on every request head.

uvicorn closes a keep-alive connection that stays idle after a response, but nothing bounds a connection
that has not finished sending a request's headers: a new connection that sends nothing, or one that drips
a header byte now and then, is held open forever before the app (and its key check) ever sees it. Here each
wait for a request head (from the connection's start, and again from the first byte after a response) has
`timeout_keep_alive` seconds (`nativa serve --header-timeout`); when it passes, a client that had started
a head gets `408` and the connection is closed, an idle one is just closed. Bytes that are not HTTP/1.1
get uvicorn's `400`, and a request past `--max-connections` its `503`, but in the error shape. The body's own deadline is the
ASGI middleware's (`middleware.BodyLimitMiddleware`), so it holds under any server.

uvicorn builds protocols from an importable class (`http="nativa.serve.protocol:GuardedH11Protocol"`), so
this works with `--workers N` too; the time comes from uvicorn's own config.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from nativa.serve.errors import error_body

IMPORT_PATH = "nativa.serve.protocol:GuardedH11Protocol"


def _timeout_response() -> bytes:
    body = json.dumps(error_body(408, "the request's headers did not arrive in time (--header-timeout); the "
                                      "connection is closed", code="request_timeout")).encode()
    head = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n")
    return head + body


async def _over_limit(scope: Any, receive: Any, send: Any) -> None:
    """uvicorn's `service_unavailable` (past `--max-connections`), as the error shape."""
    body = json.dumps(error_body(503, "this server has as many connections open as it takes (--max-connections); "
                                      "retry shortly", code="unavailable")).encode()
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close"), (b"retry-after", b"1"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class GuardedH11Protocol(H11Protocol):
    """`H11Protocol` whose every wait for a request head ends after `timeout_keep_alive` seconds."""

    _head_timer: asyncio.TimerHandle | None = None
    _head_started = False  # some bytes of the awaited head have arrived

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        """A new connection starts the clock for its first request head."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Bytes leave the head clock running while a head is awaited (a drip does not reset it), and stop it
        once the head is in."""
        waiting_before = self._waiting_for_head()
        super().data_received(data)
        if self._waiting_for_head():
            self._head_started = self._head_started or waiting_before
            self._arm()
        else:
            self._disarm()

    def on_response_complete(self) -> None:
        """After a response the next head is awaited from scratch (idle, not started)."""
        self._head_started = False
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """A closed connection cancels its head timer."""
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        """uvicorn's own events, but a request beyond `limit_concurrency` gets the 503 in the error shape: the
        same test uvicorn makes (it cannot be told which app to answer with, so the app is swapped for it)."""
        limit = self.limit_concurrency
        if limit is None or (len(self.connections) < limit and len(self.tasks) < limit):
            super().handle_events()
            return
        app, self.app, self.limit_concurrency = self.app, _over_limit, None
        try:
            super().handle_events()
        finally:
            self.app, self.limit_concurrency = app, limit

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to bytes that are not HTTP/1.1 (before any app sees them), in the error shape
        instead of a line of plain text."""
        body = json.dumps(error_body(400, f"the request is not valid HTTP/1.1 ({msg.rstrip('.')}); the "
                                          "connection is closed", code="invalid_http")).encode()
        head = h11.Response(status_code=400, reason=b"Bad Request",
                            headers=[(b"content-type", b"application/json"), (b"connection", b"close"),
                                     (b"content-length", str(len(body)).encode())])
        for event in (head, h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.timeout_keep_alive, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._waiting_for_head():
            return
        if self._head_started:
            self.transport.write(_timeout_response())
        self.transport.close()
