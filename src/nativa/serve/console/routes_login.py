"""Pages: sign in with the server's API key (a login form that sets an HttpOnly, SameSite=Strict cookie),
and sign out."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from nativa.serve.console import auth
from nativa.serve.console.views import HEADERS, bad_form, error_page, page
from nativa.serve.state import get_state

router = APIRouter()


@router.get("/ui/login")
def login_form(request: Request, next: str | None = None) -> Response:
    """The sign-in form; with no key configured there is nothing to sign in to: on to `next`."""
    if not auth.host_allowed(request):
        return error_page(request, 403, "this console answers on a loopback address only")
    if not get_state(request).config.key:
        return RedirectResponse(auth.safe_next(next), status_code=303, headers=HEADERS)
    return page(request, "login.html", next=auth.safe_next(next), failed=False)


@router.post("/ui/login")
def login(request: Request, key: str = Form(""), csrf: str | None = Form(None),
          next: str | None = Form(None)) -> Response:
    """Check the key and set the signed login cookie; a wrong key gets the form again with 401."""
    configured = get_state(request).config.key
    if not configured:
        return RedirectResponse(auth.safe_next(next), status_code=303, headers=HEADERS)
    if not auth.csrf_valid(request, csrf):
        return error_page(request, 403, "this form's security token is missing or stale; reload the page and "
                          "sign in again")
    if not auth.key_matches(configured, key.strip()):
        return page(request, "login.html", status=401, next=auth.safe_next(next), failed=True)
    response = RedirectResponse(auth.safe_next(next), status_code=303, headers=HEADERS)
    response.set_cookie(auth.LOGIN_COOKIE, auth.login_token(configured), max_age=auth.LOGIN_TTL_S,
                        **auth.cookie_options(request))  # type: ignore[arg-type]
    return response


@router.post("/ui/logout")
def logout(request: Request, csrf: str | None = Form(None)) -> Response:
    """Drop the login cookie (a CSRF-checked form, so another site cannot sign you out)."""
    refused = bad_form(request, csrf)
    if refused is not None:
        return refused
    response = RedirectResponse("/ui/login", status_code=303, headers=HEADERS)
    response.delete_cookie(auth.LOGIN_COOKIE, path=auth.COOKIE_PATH)
    return response
