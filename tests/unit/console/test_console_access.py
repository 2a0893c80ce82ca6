"""Who reaches the console: the API key through a login form (HttpOnly, SameSite=Strict cookie), CSRF on every
form, loopback names only without a key, and no console at all off loopback without a key."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from unit.console.helpers import client, console_app, csrf_of
from unit.serve.helpers import EchoModel, make_app

from nativa.config import Settings
from nativa.serve.console import auth

KEY = "k-console-123"


def _login(c: TestClient, key: str = KEY, next_path: str = "/ui/runs") -> object:
    form = c.get(f"/ui/login?next={next_path}")
    assert form.status_code == 200 and 'type="password"' in form.text
    return c.post("/ui/login", data={"key": key, "csrf": csrf_of(form.text), "next": next_path})


def test_with_a_key_pages_ask_for_it_once_and_keep_a_strict_cookie(settings: Settings) -> None:
    app, _ = console_app(settings, api_key=KEY)
    c = client(app)
    first = c.get("/ui/runs?status=passed")
    assert first.status_code == 303 and first.headers["location"] == "/ui/login?next=%2Fui%2Fruns%3Fstatus%3Dpassed"
    assert c.get("/ui/runs/live-1/events").status_code == 401
    wrong = _login(c, "not-the-key")
    assert wrong.status_code == 401 and 'id="login-failed"' in wrong.text  # type: ignore[attr-defined]
    ok = _login(c, next_path="/ui/runs?status=passed")
    assert ok.status_code == 303 and ok.headers["location"] == "/ui/runs?status=passed"  # type: ignore[attr-defined]
    cookie = next(h for h in ok.headers.get_list("set-cookie") if h.startswith(auth.LOGIN_COOKIE))  # type: ignore[attr-defined]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Path=/ui" in cookie
    assert KEY not in cookie  # a signature of the key, never the key
    assert c.get("/ui/runs").status_code == 200
    # the HTTP API still wants its bearer key: the console's cookie opens only the console
    assert c.get("/v1/sessions").status_code == 401


def test_a_bearer_key_works_and_forged_or_expired_cookies_do_not(settings: Settings) -> None:
    app, _ = console_app(settings, api_key=KEY)
    assert client(app).get("/ui/runs", headers={"authorization": f"Bearer {KEY}"}).status_code == 200
    assert client(app).get("/ui/runs", headers={"authorization": "Bearer nope"}).status_code == 303
    for token in ("123.abc", auth.login_token("another-key"), auth.login_token(KEY, now=1.0), "garbage"):
        c = client(app)
        c.cookies.set(auth.LOGIN_COOKIE, token)
        assert c.get("/ui/runs").status_code == 303, token
    c = client(app)
    c.cookies.set(auth.LOGIN_COOKIE, auth.login_token(KEY))
    assert c.get("/ui/runs").status_code == 200


def test_after_sign_in_redirects_stay_on_the_console(settings: Settings) -> None:
    app, _ = console_app(settings, api_key=KEY)
    for target in ("https://evil.example/", "//evil.example/ui", "/ui\\@evil", "/v1/code"):
        c = client(app)
        response = _login(c, next_path=target)
        assert response.headers["location"] == "/ui/runs", target  # type: ignore[attr-defined]


def test_sign_out_needs_the_csrf_token_and_ends_the_login(settings: Settings) -> None:
    app, _ = console_app(settings, api_key=KEY)
    c = client(app)
    _login(c)
    page = c.get("/ui/runs")
    assert c.post("/ui/logout", data={}).status_code == 403
    out = c.post("/ui/logout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303
    assert c.get("/ui/runs").status_code == 303


def test_forms_from_another_origin_are_refused_even_with_the_token(settings: Settings) -> None:
    app, pending = console_app(settings)
    c = client(app)
    run = pending.pause("x", "import os\nos.remove('a')\n")
    token = csrf_of(c.get(f"/ui/approvals/{run.id}").text)
    cross = c.post(f"/ui/approvals/{run.id}/approve", data={"csrf": token},
                   headers={"origin": "http://evil.example"})
    assert cross.status_code == 403
    assert c.post(f"/ui/approvals/{run.id}/approve", data={"csrf": token},
                  headers={"origin": "http://127.0.0.1:8000"}).status_code == 303


def test_the_csrf_cookie_is_httponly_and_strict(settings: Settings) -> None:
    app, _ = console_app(settings)
    page = TestClient(app, base_url="http://127.0.0.1:8000").get("/ui/runs")
    cookie = next(h for h in page.headers.get_list("set-cookie") if h.startswith(auth.CSRF_COOKIE))
    assert "HttpOnly" in cookie and re.search(r"SameSite=strict", cookie, re.IGNORECASE)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "10.0.0.5:8000", "127.0.0.1.evil.example"])
def test_without_a_key_only_loopback_names_reach_it(settings: Settings, host: str) -> None:
    app, _ = console_app(settings)
    refused = client(app, host).get("/ui/runs")
    assert refused.status_code == 403 and "loopback" in refused.text


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "127.0.0.2"])
def test_loopback_names_reach_it(settings: Settings, host: str) -> None:
    app, _ = console_app(settings)
    assert client(app, host).get("/ui/runs").status_code == 200


def test_no_console_off_loopback_without_a_key(settings: Settings) -> None:
    open_app = make_app(settings, EchoModel(), host="0.0.0.0")
    assert client(open_app).get("/ui/runs").status_code == 404
    assert client(open_app).get("/ui/static/console.css").status_code == 404
    keyed = make_app(settings, EchoModel(), host="0.0.0.0", api_key=KEY)
    assert client(keyed, "server.example:8000").get("/ui/runs").status_code == 303  # there, behind the key
