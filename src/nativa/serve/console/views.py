"""Rendering: the Jinja2 environment (autoescaped everywhere), the page helper that every console route
answers with, its security headers, and the error page.

Autoescaping is on for every template and there is no `|safe` anywhere: model-written code, tool results
and memories reach the page as text, never as markup. The Content-Security-Policy allows scripts and styles
from the console's own static files only (no inline script, no inline style), so even markup that slipped
through could not run.
"""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import html
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from nativa.errors import (
    MemoryNotFoundError,
    NativaError,
    RunNotFoundError,
    RunNotPendingError,
    SessionNotFoundError,
)
from nativa.serve.console import auth
from nativa.serve.errors import ApiError, as_api_error
from nativa.serve.state import get_state
from nativa.tracing.view import format_ms

CSP: Final = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
              "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS: Final = {"content-security-policy": CSP, "x-content-type-options": "nosniff", "x-frame-options": "DENY",
                  "referrer-policy": "same-origin", "cache-control": "no-store"}


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _seconds(value: object) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-"
    return format_ms(value * 1000)


def _segment(value: object) -> str:
    """A value as one URL path segment (a session name may hold '/', '?' or '#')."""
    return quote(str(value), safe="")


@functools.cache
def environment() -> Environment:
    """The console's Jinja environment, built once: autoescaped, and an unknown variable is an error."""
    env = Environment(loader=PackageLoader("nativa.serve.console", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = _when
    env.filters["seconds"] = _seconds
    env.filters["ms"] = format_ms
    env.filters["q"] = _segment
    return env


def render(template: str, **context: Any) -> str:
    """A template rendered to text (unit tests render each one with hostile strings this way)."""
    return environment().get_template(template).render(**context)


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A console page: the CSRF token for its forms (and its cookie when new), the security headers."""
    token, new = auth.csrf_token(request)
    key = get_state(request).config.key
    body = render(template, csrf=token, signed_in=bool(key) and auth.signed_in(request), auth_on=bool(key),
                  path=request.url.path, **context)
    response = HTMLResponse(body, status_code=status, headers=HEADERS)
    if new:
        response.set_cookie(auth.CSRF_COOKIE, token, **auth.cookie_options(request))  # type: ignore[arg-type]
    return response


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """An error as the console's HTML page, with `status` as its HTTP status."""
    return page(request, "error.html", status=status, status_code=status, message=message)


def plain_error_page(status: int, message: str) -> HTMLResponse:
    """The error page without the templates, for when rendering a page is what failed."""
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{status} · nativa console</title>'
            f'</head><body><h1>{status}</h1><p class="error" id="error-message">{html.escape(message)}</p>'
            '<p><a href="/ui/runs">Back to the runs</a></p></body></html>')
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def denied(request: Request, *, form: bool = False) -> Response | None:
    """None when the request may use the console; else the answer: 403 for a foreign host or a form without
    a valid CSRF token (checked by the caller), a redirect to the login form for a page, 401 for a stream."""
    if not auth.host_allowed(request):
        return error_page(request, 403, "this console answers on a loopback address only (localhost, 127.0.0.1, "
                          "[::1]); set an API key to reach it by another name")
    if auth.signed_in(request):
        return None
    if form or request.url.path.endswith("/events"):
        return error_page(request, 401, "sign in first: the server has an API key")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?next={quote(target, safe='')}", status_code=303, headers=HEADERS)


def bad_form(request: Request, csrf: str | None) -> Response | None:
    """The check every state-changing form goes through: access, then origin and CSRF token."""
    refused = denied(request, form=True)
    if refused is not None:
        return refused
    if not auth.csrf_valid(request, csrf):
        return error_page(request, 403, "this form's security token is missing or stale (or it came from another "
                          "site); reload the page and send it again")
    return None


def guarded(request: Request, build: Callable[[], Response]) -> Response:
    """Run a page's work; nativa's errors become an error page with the status the HTTP API would use."""
    from nativa.serve.memory import mapped

    try:
        with mapped():  # memory errors as the API answers them: 404, 501, 503
            return build()
    except RunNotPendingError as exc:
        return error_page(request, 409, str(exc))
    except (RunNotFoundError, SessionNotFoundError, MemoryNotFoundError) as exc:
        return error_page(request, 404, str(exc).split(";")[0])
    except (ApiError, NativaError) as exc:
        mapped = as_api_error(exc)
        if mapped is None:
            raise
        return error_page(request, mapped.status, mapped.message)


def show(request: Request, build: Callable[[], Response]) -> Response:
    """A page: the access check, then its work with nativa's errors as error pages."""
    refused = denied(request)
    return refused if refused is not None else guarded(request, build)


def submit(request: Request, csrf: str | None, build: Callable[[], Response]) -> Response:
    """A state-changing form: access, origin and CSRF token, then its work with errors as error pages."""
    refused = bad_form(request, csrf)
    return refused if refused is not None else guarded(request, build)


def who(request: Request) -> str:
    """Who decided, for the audit log: the key's owner digest, or the local user when there is no key."""
    from nativa.serve.memory import owner_for_key

    key = get_state(request).config.key
    if key:
        return f"{owner_for_key(key)} (console)"
    try:
        return f"{getpass.getuser()} (console)"
    except (KeyError, OSError):
        return "local (console)"
