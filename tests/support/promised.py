"""Skips of what the README promises (tier A sandbox, tier B battery, PostgreSQL, the OTLP receiver, the real
model, the memory extra, Ray, a browser): tagged here, so the one hook in tests/conftest.py turns them into
failures under CI=true. Elsewhere they stay skips with the install hint, so a laptop without PostgreSQL can
still run the rest."""

from __future__ import annotations

from typing import NoReturn

import pytest

TAG = "README promises"


def promised(capability: str, why: str) -> str:
    """A skip reason that CI=true turns into a failure (for `skipif(..., reason=promised(...))`)."""
    return f"{why} [{TAG}: {capability}]"


def skip_promised(capability: str, why: str) -> NoReturn:
    """Skip because `capability`, which the README promises, is missing here (a failure under CI=true)."""
    pytest.skip(promised(capability, why))
