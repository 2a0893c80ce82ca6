"""The limits on what a client can hold open (issue 11, finding 10): settings, flags and the uvicorn options
they become. The behaviour itself is tested against a real server in tests/integration/serve."""

from __future__ import annotations

from typing import Any

import pytest

from nativa.cli import run
from nativa.errors import ConfigError
from nativa.serve import runner
from nativa.serve.config import ServeConfig, load_serve_config


def test_defaults_bound_heads_bodies_and_connections() -> None:
    config = ServeConfig()
    assert (config.header_timeout_s, config.body_timeout_s, config.max_connections) == (10.0, 20.0, 128)
    short = ServeConfig(request_timeout_s=5)  # --timeout still bounds the whole request, receiving included
    assert short.head_deadline_s == 5 and short.body_deadline_s == 5


def test_flags_and_environment_reach_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATIVA_SERVE_BODY_TIMEOUT_S", "7")
    monkeypatch.setenv("NATIVA_SERVE_MAX_CONNECTIONS", "33")
    config = load_serve_config(None, header_timeout_s=3)
    assert (config.header_timeout_s, config.body_timeout_s, config.max_connections) == (3, 7, 33)
    with pytest.raises(ConfigError, match="NATIVA_SERVE_MAX_CONNECTIONS"):
        load_serve_config(None, max_connections=0)
    seen: list[Any] = []
    monkeypatch.setattr(runner, "serve", lambda settings, config, log_level: seen.append(config))
    assert run(["serve", "--header-timeout", "2.5", "--body-timeout", "4", "--max-connections", "9",
                "--timeout", "60"]) == 0
    assert (seen[0].header_timeout_s, seen[0].body_timeout_s, seen[0].max_connections) == (2.5, 4, 9)
    assert seen[0].request_timeout_s == 60  # --timeout keeps its meaning
    assert run(["serve", "--header-timeout", "0"]) == 2


def test_uvicorn_gets_the_guards() -> None:
    config = ServeConfig(header_timeout_s=3, max_connections=9)
    uv = runner._uvicorn_config(object(), config, "warning")
    assert uv.limit_concurrency == 9 and uv.timeout_keep_alive == 3
    assert uv.http == "nativa.serve.protocol:GuardedH11Protocol"
    assert getattr(uv, "reset_contextvars", True) is True
