"""Tracing tests start from no tracing and no inherited OTEL_* configuration (shared by both suites)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from nativa import tracing


@pytest.fixture(autouse=True)
def _no_otel_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith("OTEL_"):
            monkeypatch.delenv(key, raising=False)
    tracing.shutdown()
    yield
    tracing.shutdown()
