"""Who may use the console, and proof that a form was sent by the console itself.

- With an API key configured, the console asks for it once (a login form) and then holds a signed login
  cookie: `<issued>.<hmac(key, issued)>`, HttpOnly, SameSite=Strict, path /ui, twelve hours. It is derived from
  the key, so every worker process accepts it and changing the key signs everyone out. A request may also send
  the key as `Authorization: Bearer`, as API clients do.
- Without a key the server only listens on loopback (`ServeConfig.check_binding`; `install` mounts no console
  otherwise), and the console also refuses any `Host` that is not a loopback name, so a web page whose name
  was rebound to 127.0.0.1 cannot read it.
- Every state-changing form carries a CSRF token that must equal the HttpOnly, SameSite=Strict cookie the
  console set (double submit: no server state, any worker checks it), and a request whose `Origin` is not the
  server's own is refused before anything else.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from urllib.parse import urlsplit

from fastapi import Request

from nativa.serve.state import get_state

LOGIN_COOKIE = "nativa_console"
CSRF_COOKIE = "nativa_csrf"
CSRF_FIELD = "csrf"
LOGIN_TTL_S = 12 * 3600
COOKIE_PATH = "/ui"


def _sign(key: str, issued: str) -> str:
    return hmac.new(key.encode("utf-8"), f"nativa-console-login:{issued}".encode(), hashlib.sha256).hexdigest()


def login_token(key: str, now: float | None = None) -> str:
    """The login cookie's value: the issue time signed with the key, so any worker can check it."""
    issued = str(int(now if now is not None else time.time()))
    return f"{issued}.{_sign(key, issued)}"


def token_valid(key: str, token: str, now: float | None = None) -> bool:
    """True for a token this key signed less than `LOGIN_TTL_S` ago (not in the future)."""
    issued, _, mac = token.partition(".")
    if not is_number(issued, 12) or not mac or not mac.isascii():  # a forged cookie may hold any characters
        return False
    age = (now if now is not None else time.time()) - int(issued)
    return 0 <= age + 60 and age < LOGIN_TTL_S and hmac.compare_digest(mac, _sign(key, issued))


def is_number(text: str, max_digits: int) -> bool:
    """Decimal ASCII digits only, and few enough that `int()` takes them (str.isdigit() also accepts '²')."""
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def key_matches(key: str, given: str) -> bool:
    """Constant time, and hashing first hides the key's length."""
    return hmac.compare_digest(hashlib.sha256(given.encode("utf-8")).digest(),
                               hashlib.sha256(key.encode("utf-8")).digest())


def signed_in(request: Request) -> bool:
    """No key configured (loopback only), a valid login cookie, or the key as a bearer header."""
    key = get_state(request).config.key
    if not key:
        return True
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if cookie and token_valid(key, cookie):
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(given.strip()) and key_matches(key, given.strip())


def host_allowed(request: Request) -> bool:
    """Without a key only loopback names may reach the console (DNS rebinding would otherwise read it)."""
    if get_state(request).config.key:
        return True
    return is_loopback_name(request.headers.get("host", ""))


def is_loopback_name(host_header: str) -> bool:
    """`localhost`, `127.x.y.z` or `[::1]`, with or without a port; no lookup, so no name can be rebound."""
    host = urlsplit(f"//{host_header}").hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_origin(request: Request) -> bool:
    """A browser's `Origin` (sent with every cross-site POST) must be this server; absent is allowed
    (non-browser clients), the CSRF token still has to match."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


def csrf_token(request: Request) -> tuple[str, bool]:
    """The request's CSRF token and whether it is new (then the response must set the cookie)."""
    current = request.cookies.get(CSRF_COOKIE, "")
    if len(current) == 43 and current.isascii() and all(c.isalnum() or c in "-_" for c in current):
        return current, False
    return secrets.token_urlsafe(32), True


def csrf_valid(request: Request, submitted: str | None) -> bool:
    """A form is the console's own: its token equals the CSRF cookie, and any `Origin` is this server."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return (bool(cookie) and bool(submitted)  # as bytes: compare_digest refuses str with non-ASCII characters
            and hmac.compare_digest(cookie.encode("utf-8"), (submitted or "").encode("utf-8", "replace"))
            and same_origin(request))


def cookie_options(request: Request) -> dict[str, object]:
    """The console cookies' flags: HttpOnly, SameSite=Strict, path /ui, Secure over https."""
    return {"httponly": True, "samesite": "strict", "path": COOKIE_PATH, "secure": request.url.scheme == "https"}


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if target and target.startswith("/ui") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/runs"
