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


def _toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> Path:
    toml = tmp_path / "nativa.toml"
    toml.write_text(text)
    monkeypatch.setenv("NATIVA_CONFIG", str(toml))
    return toml


def test_a_misspelt_key_in_the_file_names_it_and_the_nearest_valid_one(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = _toml(monkeypatch, tmp_path, 'n_ctxx = 1024\nserve_max_queu = 3\n')
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == (f"{toml}: unknown key 'n_ctxx' (did you mean 'n_ctx'?), 'serve_max_queu' "
                               "(did you mean 'serve_max_queue'?); see `nativa config` for the valid keys")


def test_serve_keys_in_the_file_reach_the_server_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The keys `Settings(extra="ignore")` used to drop: written in nativa.toml, they configure the server;
    the variable still wins over the file."""
    from nativa.serve.config import load_serve_config

    _toml(monkeypatch, tmp_path, 'serve_timeout_s = 12.5\nserve_cors_origins = ["https://a", "https://b"]\n'
                                 'api_key = "from-file"\nserve_max_queue = 3\n')
    monkeypatch.setenv("NATIVA_SERVE_MAX_QUEUE", "7")
    cfg = load_serve_config(load_settings())
    assert (cfg.key, cfg.request_timeout_s, cfg.cors_origins, cfg.max_queue) == (
        "from-file", 12.5, ("https://a", "https://b"), 7)


def test_every_nativa_variable_read_by_the_code_is_a_setting() -> None:
    """`NATIVA_*` names that appear in the source are fields (or the file's own NATIVA_CONFIG), so none is read
    behind the settings' back."""
    import re

    import nativa
    from nativa.config import Settings

    root = Path(nativa.__file__).parent
    names = set()
    for path in root.rglob("*.py"):
        names |= set(re.findall(r"\bNATIVA_([A-Z0-9_]+)\b", path.read_text(encoding="utf-8")))
    fields = {f.upper() for f in Settings.model_fields}
    assert names - fields - {"CONFIG"} == set()


def test_config_shows_each_value_and_its_source_with_secrets_masked(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from nativa.cli import run
    from nativa.cli._common import reset_settings

    _toml(monkeypatch, tmp_path, 'n_ctx = 1024\nopenai_api_key = "sk-file"\n')
    monkeypatch.setenv("NATIVA_MODEL", "large")
    monkeypatch.setenv("NATIVA_API_KEY", "sk-env")
    monkeypatch.setenv("NATIVA_MEMORY_URL", "postgresql://me:hunter2@db.example/nativa")
    monkeypatch.delenv("NATIVA_SEED", raising=False)
    reset_settings()
    assert run(["config", "--json"]) == 0
    shown = {r["name"]: r for r in json.loads(capsys.readouterr().out)["settings"]}
    assert (shown["model"]["value"], shown["model"]["source"]) == ("large", "environment")
    assert (shown["n_ctx"]["value"], shown["n_ctx"]["source"]) == (1024, "file")
    assert (shown["seed"]["value"], shown["seed"]["source"]) == (0, "default")
    assert shown["api_key"]["value"] == shown["openai_api_key"]["value"] == "********"
    assert shown["memory_url"]["value"] == "postgresql://me:********@db.example/nativa"
    assert shown["max_tokens"]["value"] == 512 and shown["otel_service_name"]["env"] == "OTEL_SERVICE_NAME"
    assert run(["config"]) == 0
    table = capsys.readouterr().out
    assert "sk-env" not in table and "sk-file" not in table and "hunter2" not in table and "large" in table
