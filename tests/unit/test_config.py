"""One settings object from NATIVA_* variables over nativa.toml; bad values name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from nativa.config import load_settings
from nativa.errors import ConfigError


def test_env_overrides_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "nativa.toml"
    toml.write_text('model = "large"\nn_ctx = 1024\nmax_tokens = 99\n')
    monkeypatch.setenv("NATIVA_CONFIG", str(toml))
    monkeypatch.setenv("NATIVA_N_CTX", "2048")
    s = load_settings()
    assert (s.model, s.n_ctx, s.max_tokens) == ("large", 2048, 99)


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATIVA_N_CTX", "lots")
    with pytest.raises(ConfigError, match="NATIVA_N_CTX"):
        load_settings()


def test_flags_from_the_issues_keep_their_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATIVA_SANDBOX_ALLOW_WEAK", "1")
    monkeypatch.setenv("NATIVA_TRACE_CONTENT", "1")
    s = load_settings()
    assert s.sandbox_allow_weak and s.trace_content


def test_secrets_default_to_none_and_home_is_overridable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NATIVA_HOME", str(tmp_path))
    s = load_settings()
    assert s.openai_api_key is None and not s.trace_content
    assert s.models_dir == tmp_path / "models"
