"""The HTTP tool: fetch a URL, but only from hosts the user allowed, and never from private addresses.

    web = HTTPFetcher(["api.example.com"])                    # allow-list; public addresses only
    web = HTTPFetcher(["127.0.0.1"], allow_private=True)      # loopback test servers, explicitly
    web.fetch("https://api.example.com/v1/rates").to_observation()
    tool = web.as_tool()                                      # Tool "http" for an agent

Every hop, the first request and each redirect, is checked the same way (`_netguard.vet`): the scheme is
http(s), the URL carries no credentials, the host is on the allow-list, and every address the host resolves
to is public; the connection then goes to the checked address (Host header and TLS SNI keep the name).
One total time limit (connect, headers and body of every hop, `_httpwire.DeadlineBackend`), a response size
cap applied while the body is decoded (`_httpwire.read_body`, at most two encodings) and a redirect limit
bound the cost. Credentials are sent only to the origin (scheme, host, port) they were configured for;
environment proxies and .netrc are ignored. Without `allow_writes` only GET is offered to the model.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from nativa.errors import (
    BadInputError,
    HTTPFetchError,
)
from nativa.tools._httpwire import (
    ACCEPT_ENCODING,
    content_encodings,
    deadline_transport,
    read_body,
    total_deadline,
)
from nativa.tools._netguard import (
    HostRule,
    RequestRefused,
    RequestRefusedError,
    Resolver,
    normalize_host,
    system_resolver,
    vet,
)
from nativa.tools.base import Tool

Origin = tuple[str, str, int]  # (scheme, host, port): what credentials are keyed by
_REDIRECTS = (301, 302, 303, 307, 308)
_TEXT_TYPES = ("text/", "json", "xml", "javascript", "csv", "yaml", "x-www-form-urlencoded")


@dataclass(slots=True)
class HTTPResponse:
    """What one fetch returned, cut to the size limit, with the redirects it followed."""

    url: str
    status: int
    content_type: str = ""
    text: str = ""
    size: int = 0
    truncated: bool = False
    redirects: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def to_observation(self) -> str:
        """What the model reads: status, type, size (and whether it was cut), where redirects led, then the
        body, so it can tell an error page or a partial body from the answer."""
        note = f", cut at {self.size} bytes" if self.truncated else ""
        via = f" (after redirects: {' -> '.join(self.redirects)})" if self.redirects else ""
        head = f"HTTP {self.status} {self.content_type or 'unknown type'}, {self.size} bytes{note} from {self.url}{via}"
        return f"{head}\n{self.text}" if self.text else head


class HTTPFetcher:
    """An allow-listed, SSRF-guarded HTTP client; `resolver` and `transport` are injectable for tests."""

    def __init__(self, allow_hosts: Sequence[str], *, allow_private: bool = False, allow_writes: bool = False,
                 timeout_s: float = 10.0, max_bytes: int = 256_000, max_redirects: int = 5,
                 credentials: Mapping[str, Mapping[str, str]] | None = None, resolver: Resolver | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        try:
            self.rules = [HostRule.parse(h) for h in allow_hosts]
        except ValueError as exc:
            raise BadInputError(str(exc)) from None
        self.allow_private = allow_private
        self.allow_writes = allow_writes
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.credentials = _Credentials(credentials or {})
        self.resolver = resolver or system_resolver
        self._client = httpx.Client(transport=transport or deadline_transport(), trust_env=False,
                                    follow_redirects=False, timeout=httpx.Timeout(timeout_s), verify=True)

    # -- checks ----------------------------------------------------------------------------------
    def check(self, url: str) -> tuple[httpx.URL, str, int]:
        """Parse and vet one URL: (the URL, the checked IP to connect to, the port)."""
        url = url.strip()  # spaces inside are percent-encoded by httpx, as a browser would
        if not url:
            raise RequestRefusedError("the URL is empty; send a full URL, e.g. https://api.example.com/items?id=3")
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise RequestRefusedError(f"{url!r} is not a valid URL ({exc}); give a full http(s):// URL") from None
        if parsed.scheme not in ("http", "https"):
            raise RequestRefusedError(f"{url!r}: scheme {parsed.scheme or '(none)'!r} is refused; only http and https")
        if parsed.userinfo:
            raise RequestRefusedError(f"{_safe(parsed)}: credentials in the URL are refused; "
                                 "configure them per host instead")
        host = normalize_host(parsed.host)
        if not host:
            raise RequestRefusedError(f"{url!r} has no host")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        if not any(rule.matches(host, port) for rule in self.rules):
            allowed = ", ".join(str(r) for r in self.rules) or "none (give --allow-host HOST)"
            raise RequestRefusedError(f"{_safe(parsed)}: host {host!r} is not on the allow-list; allowed hosts: {allowed}")
        try:
            ip = vet(host, port, allow_private=self.allow_private, resolver=self.resolver)
        except RequestRefusedError as exc:
            raise RequestRefusedError(f"{_safe(parsed)}: {exc}") from None
        return parsed, str(ip), port

    # -- fetching --------------------------------------------------------------------------------
    def fetch(self, url: str, method: str = "GET", body: str | None = None) -> HTTPResponse:
        """Send the request, following at most `max_redirects` redirects, each one re-checked."""
        method = method.upper()
        if method not in ("GET", "HEAD") and not self.allow_writes:
            raise RequestRefusedError(f"method {method} is refused: only GET and HEAD without the user's grant "
                                 "(--allow-writes)")
        start = time.perf_counter()
        with total_deadline(self.timeout_s):
            return self._fetch(url, method, body, start)

    def _fetch(self, url: str, method: str, body: str | None, start: float) -> HTTPResponse:
        redirects: list[str] = []
        current = url
        first: Origin | None = None
        while True:
            parsed, ip, port = self.check(current)
            origin = _origin(parsed, port)
            first = first or origin
            headers = self.credentials.for_hop(origin, first)
            response = self._send(parsed, ip, port, method, body, start, headers)
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    if len(redirects) >= self.max_redirects:
                        raise HTTPFetchError(f"{_safe(parsed)}: more than {self.max_redirects} redirects")
                    current = str(parsed.join(location))
                    redirects.append(_safe(httpx.URL(current)) if _parses(current) else current)
                    if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                        method, body = "GET", None
                    continue
                result = self._read(response, parsed, redirects, start)
                if result.status >= 400:  # an error page is a failed call the model should see as one
                    raise HTTPFetchError(f"{result.url} answered HTTP {result.status}: {result.text[:500]}")
                return result
            finally:
                response.close()

    def _send(self, parsed: httpx.URL, ip: str, port: int, method: str, body: str | None,
              start: float, credentials: dict[str, str]) -> httpx.Response:
        host = normalize_host(parsed.host)
        remaining = self.timeout_s - (time.perf_counter() - start)
        if remaining <= 0:
            raise HTTPFetchError(f"{_safe(parsed)}: timed out after {self.timeout_s:g} s")
        headers = {"Host": parsed.netloc.decode("ascii"), "User-Agent": "nativa-http-tool",
                   "Accept": "application/json, text/*;q=0.9, */*;q=0.5", "Accept-Encoding": ACCEPT_ENCODING}
        headers |= credentials
        pinned = parsed.copy_with(host=ip)
        extensions: dict[str, Any] = {"timeout": httpx.Timeout(remaining).as_dict()}
        if parsed.scheme == "https":
            extensions["sni_hostname"] = host
        request = self._client.build_request(method, pinned, headers=headers, content=body,
                                             extensions=extensions)
        try:
            return self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise HTTPFetchError(f"{_safe(parsed)}: timed out after {self.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise HTTPFetchError(f"{_safe(parsed)}: request failed: {type(exc).__name__}: {exc}") from None

    def _read(self, response: httpx.Response, parsed: httpx.URL, redirects: list[str],
              start: float) -> HTTPResponse:
        def check_clock() -> None:
            if time.perf_counter() - start > self.timeout_s:
                raise HTTPFetchError(f"{_safe(parsed)}: timed out after {self.timeout_s:g} s reading the body")

        try:
            encodings = content_encodings(response.headers.get_list("content-encoding"))
            data, truncated = read_body(_raw_chunks(response), encodings, self.max_bytes, check_clock)
        except ValueError as exc:
            raise HTTPFetchError(f"{_safe(parsed)}: {exc}") from None
        except httpx.TimeoutException:
            raise HTTPFetchError(f"{_safe(parsed)}: timed out after {self.timeout_s:g} s reading the body") from None
        except httpx.HTTPError as exc:
            raise HTTPFetchError(f"{_safe(parsed)}: reading the response failed: {exc}") from None
        ctype = response.headers.get("content-type", "").split(";")[0].strip()
        if not ctype or any(t in ctype for t in _TEXT_TYPES):
            text = data.decode(response.encoding or "utf-8", errors="replace")
        else:
            text = f"<{len(data)} bytes of {ctype}, not shown>"
        return HTTPResponse(url=_safe(parsed), status=response.status_code, content_type=ctype, text=text,
                            size=len(data), truncated=truncated, redirects=redirects,
                            duration_s=time.perf_counter() - start)

    # -- tool ------------------------------------------------------------------------------------
    def as_tool(self, name: str = "http") -> Tool:
        """`http(url)` (GET) for the model; with writes granted, also `method` and `body`."""
        fetcher = self
        hosts = ", ".join(str(r) for r in self.rules)
        if self.allow_writes:
            def http(url: str, method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET",
                     body: str | None = None) -> HTTPResponse:
                """Send an HTTP request to an allowed host and get the response.

                Args:
                    url: the full http(s) URL
                    method: the HTTP method
                    body: the request body (JSON text), for POST, PUT and PATCH
                """
                return fetcher.fetch(url, method, body)

            tool = Tool.from_function(http, name=name, kind="http", close=self.close,
                                      context=lambda: f"HTTP: allowed hosts: {hosts}")
        else:
            def http(url: str) -> HTTPResponse:  # type: ignore[misc]
                """Fetch a URL (HTTP GET) from an allowed host and get the response body.

                Args:
                    url: the full http(s) URL, e.g. https://api.example.com/items?id=3
                """
                return fetcher.fetch(url)

            tool = Tool.from_function(http, name=name, kind="http", close=self.close,
                                      context=lambda: f"HTTP: allowed hosts: {hosts}")
        return tool

    def close(self) -> None:
        """Close the HTTP client and its pooled connections (`close_tools` calls it)."""
        self._client.close()


class _Credentials:
    """Headers per origin. A key `https://host[:port]` names one origin exactly. A bare `host` or `host:port`
    (the older form) holds for the origin the call starts at on that host, never for a redirect to another
    scheme or port of it: a redirect from https to http, or to another port, drops them."""

    def __init__(self, configured: Mapping[str, Mapping[str, str]]) -> None:
        self.origins: dict[Origin, dict[str, str]] = {}
        self.hosts: dict[tuple[str, int | None], dict[str, str]] = {}
        for key, headers in configured.items():
            if "://" in key:
                try:
                    url = httpx.URL(key)
                except httpx.InvalidURL as exc:
                    raise BadInputError(f"credentials key {key!r} is not an origin ({exc}); "
                                        "give https://host[:port] or a host") from None
                self.origins[_origin(url, url.port or _default_port(url.scheme))] = dict(headers)
            else:
                try:
                    rule = HostRule.parse(key)
                except ValueError as exc:
                    raise BadInputError(f"credentials key {key!r}: {exc}") from None
                self.hosts[(rule.host, rule.port)] = dict(headers)

    def for_hop(self, origin: Origin, first: Origin) -> dict[str, str]:
        if origin in self.origins:
            return self.origins[origin]
        if origin != first:
            return {}
        _, host, port = origin
        return self.hosts.get((host, port)) or self.hosts.get((host, None)) or {}


def _raw_chunks(response: httpx.Response) -> Iterator[bytes]:
    """The body as it came off the wire; a response built in memory (a test transport) is already read."""
    try:
        yield from response.iter_raw()
    except httpx.StreamConsumed:
        yield response.content


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _origin(url: httpx.URL, port: int) -> Origin:
    return (url.scheme, normalize_host(url.host), port)


def _safe(url: httpx.URL) -> str:
    """The URL without userinfo, for messages and results."""
    return str(url.copy_with(username=None, password=None)) if url.userinfo else str(url)


def _parses(url: str) -> bool:
    try:
        httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return True


__all__ = ["HTTPFetchError", "HTTPFetcher", "HTTPResponse", "RequestRefused", "RequestRefusedError"]
