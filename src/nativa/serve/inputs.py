"""Request values that Python's JSON reader accepts but nothing after it can use, refused at the door.

A lone UTF-16 surrogate (`"\\ud800"` in a JSON string) is valid JSON and decodes to a Python str, but that
str cannot be encoded as UTF-8: it would fail far from the request (in the tokenizer, in the store, in the
response's own encoding) as a 500 that was the client's mistake. `NaN` and `Infinity` are not JSON at all,
yet the reader takes them, and a response cannot carry them back. The check names the field instead.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request

from nativa.errors import ApiError

_MAX_DEPTH = 64  # deeper than any body the routes take; pydantic refuses such bodies anyway
_SURROGATE = "the text holds a lone UTF-16 surrogate (such as \\ud800), which is not valid Unicode; send UTF-8 text"
_NOT_FINITE = "NaN and Infinity are not JSON numbers; send a finite number"


def first_bad_value(value: Any, where: str = "", depth: int = 0) -> tuple[str, str] | None:
    """Where (as `messages[0].content`) the first value no route can use sits, and why; or None."""
    if isinstance(value, str):
        if value.isascii():
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where or "body", _SURROGATE
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (where or "body", _NOT_FINITE)
    if depth >= _MAX_DEPTH:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            found = first_bad_value(key, name, depth + 1) or first_bad_value(item, name, depth + 1)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = first_bad_value(item, f"{where}[{i}]" if where else f"[{i}]", depth + 1)
            if found is not None:
                return found
    return None


async def check_text(request: Request) -> None:
    """A route dependency: 400 naming the field when a JSON body holds text that is not valid Unicode, or a
    number that is not finite."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    try:
        data = await request.json()  # already parsed (and kept) by FastAPI for the route's own body
    except Exception:  # noqa: BLE001 - an unreadable body is the route's own parsing's to answer (400)
        return
    found = first_bad_value(data)
    if found is not None:
        where, why = found
        raise ApiError(400, f"{where}: {why}", param=where, code="invalid_value")
