"""The HTTP tool's SSRF guard: allow-list, private and encoded addresses, DNS names, redirects, limits."""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from nativa.tools._netguard import embedded_ipv4, parse_ip, refusal
from nativa.tools.http import HTTPFetcher, HTTPFetchError, RequestRefused

PUBLIC = "93.184.216.34"
LOOPBACK_FORMS = ["127.0.0.1", "2130706433", "0x7f000001", "0x7F.0.0.1", "0177.0.0.1", "127.1", "127.0.1",
                  "017700000001", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]",
                  "[::127.0.0.1]", "[2002:7f00:1::]", "[64:ff9b::127.0.0.1]", "localhost", "localhost.",
                  "LOCALHOST"]
PRIVATE = ["10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.1.1", "100.64.0.1", "0.0.0.0", "224.0.0.1",
           "[fc00::1]", "[fd12:3456::1]", "[fe80::1]", "[ff02::1]", "[::]", "0", "192.0.0.1", "198.18.0.1",
           "240.0.0.1", "255.255.255.255", "[2001:db8::1]"]
METADATA = ["169.254.169.254", "2852039166", "0xA9FEA9FE", "0251.0376.0251.0376", "[::ffff:169.254.169.254]",
            "[fd00:ec2::254]", "100.100.100.200", "169.254.170.2"]


def _resolver(table: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        if host in table:
            return table[host]
        if host in ("localhost", "localhost."):
            return ["127.0.0.1", "::1"]
        raise RequestRefused(f"cannot resolve host {host!r}")

    return resolve


@pytest.mark.parametrize(("text", "expected"), [
    ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"),
    ("0x7F.1", "127.0.0.1"), ("[::ffff:127.0.0.1]", "::ffff:7f00:1"), ("2852039166", "169.254.169.254"),
    ("example.com", None), ("1.2.3.4.5", None), ("127.0.0.1 evil", None),
])
def test_ip_literals_are_parsed_in_every_form_a_resolver_accepts(text: str, expected: str | None) -> None:
    parsed = parse_ip(text)
    assert (str(parsed) if parsed else None) == expected


def test_ipv6_forms_that_embed_ipv4_are_unwrapped() -> None:
    for text in ["::ffff:127.0.0.1", "::127.0.0.1", "2002:7f00:1::", "64:ff9b::7f00:1", "2001:0:4136:e378:8000:63bf:80ff:fffe"]:
        embedded = {str(ip) for ip in embedded_ipv4(ipaddress.ip_address(text))}
        assert "127.0.0.1" in embedded, text
    assert embedded_ipv4(ipaddress.ip_address("::1")) == []


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_loopback_in_any_spelling_is_refused_without_allow_private(host: str) -> None:
    fetcher = HTTPFetcher([host.strip("[]").rstrip(".").lower()], resolver=_resolver({}))
    # httpx itself rejects octal dotted forms as invalid URLs: refused too, before any lookup
    with pytest.raises(RequestRefused, match="loopback|--allow-private|Invalid IPv4 address"):
        fetcher.check(f"http://{host}:8080/")


@pytest.mark.parametrize("host", PRIVATE)
def test_private_reserved_and_multicast_ranges_are_refused(host: str) -> None:
    fetcher = HTTPFetcher([host.strip("[]")], resolver=_resolver({}))
    with pytest.raises(RequestRefused, match="private|link-local|reserved|multicast|unspecified|loopback"):
        fetcher.check(f"http://{host}/")


@pytest.mark.parametrize("host", METADATA)
def test_metadata_addresses_are_refused_even_with_allow_private(host: str) -> None:
    fetcher = HTTPFetcher([host.strip("[]")], allow_private=True, resolver=_resolver({}))
    with pytest.raises(RequestRefused, match="metadata|Invalid IPv4 address"):
        fetcher.check(f"http://{host}/latest/meta-data/")


def test_dns_names_that_resolve_to_private_addresses_are_refused() -> None:
    resolver = _resolver({"evil.test": ["127.0.0.1"], "rebind.test": [PUBLIC, "10.0.0.7"],
                          "meta.test": ["169.254.169.254"], "six.test": ["::ffff:10.1.2.3"]})
    fetcher = HTTPFetcher(["evil.test", "rebind.test", "meta.test", "six.test", "localhost"], resolver=resolver)
    for url, why in [("http://evil.test/", "resolves to a refused address: 127.0.0.1 is a loopback"),
                     ("http://rebind.test/", "10.0.0.7 is a private"),  # any bad address refuses the name
                     ("http://meta.test/", "metadata"), ("http://six.test/", "10.1.2.3 (embedded in"),
                     ("http://localhost/", "loopback")]:
        with pytest.raises(RequestRefused, match=why.replace("(", r"\(")):
            fetcher.check(url)


def test_allow_list_scheme_and_credentials_in_urls() -> None:
    fetcher = HTTPFetcher(["api.test", "*.cdn.test", "port.test:8443"],
                          resolver=_resolver({"api.test": [PUBLIC], "img.cdn.test": [PUBLIC], "port.test": [PUBLIC],
                                              "cdn.test": [PUBLIC], "other.test": [PUBLIC]}))
    assert fetcher.check("https://API.test./v1")[1] == PUBLIC
    assert fetcher.check("http://img.cdn.test/x.png")[1] == PUBLIC
    assert fetcher.check("https://port.test:8443/")[2] == 8443
    for url, why in [("http://other.test/", "not on the allow-list; allowed hosts: api.test, \\*.cdn.test"),
                     ("http://cdn.test/", "not on the allow-list"), ("https://port.test/", "not on the allow-list"),
                     ("http://api.test@other.test/", "credentials in the URL"),
                     ("http://user:pw@api.test/", "credentials in the URL"),
                     ("file:///etc/passwd", "scheme 'file' is refused"), ("gopher://api.test/", "scheme"),
                     ("api.test/v1", "scheme"), ("http://", "no host|not a valid URL")]:
        with pytest.raises(RequestRefused, match=why):
            fetcher.check(url)
    with pytest.raises(RequestRefused, match="not on the allow-list; allowed hosts: none"):
        HTTPFetcher([]).check("http://api.test/")


class _Recorder:
    """A MockTransport handler: answers by path, records what reached the 'network'."""

    def __init__(self, routes: dict[str, httpx.Response]) -> None:
        self.routes = routes
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return self.routes.get(request.url.path, httpx.Response(404, text="no route"))


def _fetcher(recorder: _Recorder, **kw: object) -> HTTPFetcher:
    hosts = ["api.test", "evil.test", "127.0.0.1", "2130706433", "::ffff:127.0.0.1", "169.254.169.254",
             "second.test"]
    resolver = _resolver({"api.test": [PUBLIC], "evil.test": ["127.0.0.1"], "second.test": ["93.184.216.35"]})
    return HTTPFetcher(kw.pop("hosts", hosts), resolver=resolver, transport=httpx.MockTransport(recorder),
                       **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("target", ["http://127.0.0.1/admin", "http://2130706433/", "http://[::ffff:127.0.0.1]/",
                                    "http://169.254.169.254/latest/meta-data/", "http://evil.test/",
                                    "http://not-listed.test/", "file:///etc/passwd", "//127.0.0.1/x"])
def test_every_redirect_is_rechecked(target: str) -> None:
    recorder = _Recorder({"/start": httpx.Response(302, headers={"location": target})})
    with pytest.raises(RequestRefused):
        _fetcher(recorder).fetch("http://api.test/start")
    assert [r.url.path for r in recorder.seen] == ["/start"]  # nothing was sent to the redirect target


def test_connection_goes_to_the_checked_address_with_the_name_kept() -> None:
    recorder = _Recorder({"/a": httpx.Response(301, headers={"location": "/b"}),
                          "/b": httpx.Response(200, json={"ok": True})})
    result = _fetcher(recorder).fetch("http://api.test/a")
    assert result.status == 200 and json.loads(result.text) == {"ok": True}
    assert result.redirects == ["http://api.test/b"] and result.url == "http://api.test/b"
    assert all(r.url.host == PUBLIC and r.headers["host"] == "api.test" for r in recorder.seen)
    assert "HTTP 200 application/json" in result.to_observation()


def test_credentials_only_for_the_host_they_were_configured_for() -> None:
    recorder = _Recorder({"/a": httpx.Response(302, headers={"location": "http://second.test/b"}),
                          "/b": httpx.Response(200, text="done")})
    fetcher = _fetcher(recorder, credentials={"api.test": {"Authorization": "Bearer s3cret"}})
    fetcher.fetch("http://api.test/a")
    first, second = recorder.seen
    assert first.headers.get("authorization") == "Bearer s3cret"
    assert "authorization" not in second.headers and "cookie" not in second.headers


def test_response_size_cap_redirect_limit_and_methods() -> None:
    loop = {f"/r{i}": httpx.Response(302, headers={"location": f"/r{i + 1}"}) for i in range(10)}
    recorder = _Recorder({"/big": httpx.Response(200, text="x" * 100_000), **loop})
    fetcher = _fetcher(recorder, max_bytes=1000, max_redirects=3)
    big = fetcher.fetch("http://api.test/big")
    assert big.truncated and big.size == 1000 and "cut at 1000 bytes" in big.to_observation()
    with pytest.raises(HTTPFetchError, match="more than 3 redirects"):
        fetcher.fetch("http://api.test/r0")
    with pytest.raises(RequestRefused, match="method POST is refused"):
        fetcher.fetch("http://api.test/big", method="POST", body="{}")
    tool = fetcher.as_tool()
    assert list(tool.parameters_schema()["properties"]) == ["url"]
    assert "method" in _fetcher(recorder, allow_writes=True).as_tool().parameters_schema()["properties"]


@pytest.fixture
def loopback_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/redirect?to="):
                self.send_response(302)
                self.send_header("Location", self.path.split("=", 1)[1])
                self.end_headers()
                return
            if self.path == "/slow":
                time.sleep(2)
            body = json.dumps({"path": self.path, "host": self.headers["Host"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.integration  # a real server on loopback
def test_real_loopback_server_only_with_allow_private(loopback_server: str) -> None:
    with pytest.raises(RequestRefused, match="--allow-private"):
        HTTPFetcher(["127.0.0.1"]).fetch(f"{loopback_server}/x")
    fetcher = HTTPFetcher(["127.0.0.1"], allow_private=True, timeout_s=1.0)
    result = fetcher.as_tool().call({"url": f"{loopback_server}/hello?x=1"})
    assert result.ok and json.loads(result.output.split("\n", 1)[1])["path"] == "/hello?x=1"
    to_metadata = fetcher.as_tool().call({"url": f"{loopback_server}/redirect?to=http://169.254.169.254/latest"})
    assert not to_metadata.ok and "not on the allow-list" in (to_metadata.error or "")
    port = loopback_server.rsplit(":", 1)[1]
    to_other_name = fetcher.as_tool().call({"url": f"{loopback_server}/redirect?to=http://localhost:{port}/"})
    assert not to_other_name.ok and "'localhost' is not on the allow-list" in (to_other_name.error or "")
    slow = fetcher.as_tool().call({"url": f"{loopback_server}/slow"})
    assert not slow.ok and "timed out after 1 s" in (slow.error or "")


def test_refusal_reasons_name_the_address_and_the_flag() -> None:
    assert refusal(ipaddress.ip_address("127.0.0.1"), allow_private=True) is None
    assert refusal(ipaddress.ip_address("8.8.8.8"), allow_private=False) is None
    reason = refusal(ipaddress.ip_address("192.168.0.1"), allow_private=False) or ""
    assert "192.168.0.1 is a private address" in reason and "--allow-private" in reason


def test_error_statuses_and_malformed_urls_are_failed_calls() -> None:
    recorder = _Recorder({})
    fetcher = _fetcher(recorder)
    missing = fetcher.as_tool().call({"url": "http://api.test/nope"})
    assert not missing.ok and "answered HTTP 404: no route" in (missing.error or "")
    empty = fetcher.as_tool().call({"url": "  "})
    assert not empty.ok and "the URL is empty" in (empty.error or "")
    spaced = fetcher.as_tool().call({"url": "http://api.test/api/incidents list"})
    assert not spaced.ok and "incidents%20list answered HTTP 404" in (spaced.error or "")
    assert len(recorder.seen) == 2  # the empty URL never reached the network
