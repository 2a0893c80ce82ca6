"""Probes, Prometheus metrics, bearer keys (constant-time compare), CORS off by default, binding rules."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from unit.serve.helpers import EchoModel, LoadingEchoModel, make_app

from nativa.config import Settings, load_settings
from nativa.errors import ConfigError, ModelNotFoundError
from nativa.serve import ServeConfig, create_app, is_loopback, load_serve_config

USER = [{"role": "user", "content": "hi"}]


def test_healthz_and_readyz_before_and_after_the_lazy_load(settings: Settings) -> None:
    model = LoadingEchoModel(load_s=0.01)
    client = TestClient(make_app(settings, model))
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["models"][0] | {"detail": None} == {
        "name": "small", "loaded": False, "loadable": True, "detail": None, "load_s": None}
    assert model.loads == 0  # probes never load
    client.post("/v1/chat/completions", json={"model": "small", "messages": USER})
    assert client.get("/readyz").json()["models"][0]["loaded"] is True


def test_readyz_is_503_when_the_model_cannot_load(settings: Settings) -> None:
    def missing(name: str) -> EchoModel:
        raise ModelNotFoundError("model 'small' is not installed; install it with: pip install parts")

    client = TestClient(create_app(settings, config=ServeConfig(models=("small",)), model_factory=missing))
    r = client.get("/readyz")
    assert r.status_code == 503 and "pip install" in r.json()["models"][0]["detail"]
    assert client.get("/healthz").status_code == 200


def test_metrics_has_requests_queue_cold_start_and_model_metrics(settings: Settings) -> None:
    client = TestClient(make_app(settings, LoadingEchoModel(load_s=0.01)))
    client.post("/v1/chat/completions", json={"model": "small", "messages": USER})
    client.post("/v1/chat/completions", json={"model": "nope", "messages": USER})
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'nativa_http_requests_total{method="POST",route="/v1/chat/completions",status="200"} 1.0' in text
    assert 'status="404"' in text
    assert 'nativa_model_loads_total{model="small"} 1.0' in text and 'nativa_model_loaded{model="small"} 1.0' in text
    assert 'nativa_queue_running{model="small"} 0.0' in text
    assert "gen_ai_client_operation_duration_seconds_count" in text  # tracing's metrics follow ours


def test_api_key_is_required_when_configured(settings: Settings) -> None:
    client = TestClient(make_app(settings, EchoModel(), api_key="s3cret-key"))
    body = {"model": "small", "messages": USER}
    missing = client.post("/v1/chat/completions", json=body)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in missing.json()["error"]["message"]
    wrong = client.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer s3cret-kez"})
    assert wrong.status_code == 401
    ok = client.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer s3cret-key"})
    assert ok.status_code == 200
    assert client.get("/metrics").status_code == 401
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200


def test_cors_is_off_by_default_and_on_for_named_origins(settings: Settings) -> None:
    headers = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    off = TestClient(make_app(settings, EchoModel()))
    assert "access-control-allow-origin" not in off.options("/v1/chat/completions", headers=headers).headers
    assert "access-control-allow-origin" not in off.get("/healthz", headers=headers).headers
    on = TestClient(make_app(settings, EchoModel(), cors_origins=("https://app.example",)))
    preflight = on.options("/v1/chat/completions", headers=headers)
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.5.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("192.168.1.2", False),
    ("no-such-host.invalid", False),
])
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_binding_off_loopback_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="--api-key"):
        ServeConfig(host="0.0.0.0").check_binding()
    ServeConfig(host="0.0.0.0", api_key="k").check_binding()
    ServeConfig().check_binding()
    monkeypatch.setenv("NATIVA_API_KEY", "from-env")
    assert load_serve_config(None, host="0.0.0.0").key == "from-env"


def test_server_options_from_env_and_their_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATIVA_SERVE_MAX_QUEUE", "3")
    monkeypatch.setenv("NATIVA_SERVE_CORS_ORIGINS", "https://a, https://b")
    cfg = load_serve_config(None)
    assert cfg.max_queue == 3 and cfg.cors_origins == ("https://a", "https://b")
    assert load_serve_config(None, max_queue=9).max_queue == 9  # the flag wins
    monkeypatch.setenv("NATIVA_SERVE_MAX_QUEUE", "-1")
    with pytest.raises(ConfigError, match="NATIVA_SERVE_MAX_QUEUE"):
        load_serve_config(None)


def test_cli_refuses_a_public_host_without_key_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from nativa.serve.__main__ import main

    argv = sys.argv
    sys.argv = ["nativa serve", "--host", "0.0.0.0", "--port", "0"]
    try:
        assert main() == 2
    finally:
        sys.argv = argv
    assert "API key is required" in capsys.readouterr().err


def test_a_served_model_that_cannot_load_is_503_not_404(settings: Settings) -> None:
    def missing(name: str) -> EchoModel:
        raise ModelNotFoundError(f"model '{name}' is not installed; install it with: pip install parts")

    client = TestClient(create_app(settings, config=ServeConfig(models=("small",)), model_factory=missing))
    r = client.post("/v1/chat/completions", json={"model": "small", "messages": USER})
    assert r.status_code == 503 and r.json()["error"]["code"] == "model_unavailable"
    assert "pip install parts" in r.json()["error"]["message"]
    assert client.post("/v1/chat/completions", json={"model": "other", "messages": USER}).status_code == 404


def test_a_client_leaving_mid_body_is_not_a_fault(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    app = make_app(settings, EchoModel())
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": b'{"model": "sm', "more_body": True}, {"type": "http.disconnect"}]

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": [], "query_string": b"",
             "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80),
             "client": ("127.0.0.1", 5), "root_path": "", "app": app}
    asyncio.run(app(scope, receive, send))
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses and statuses[0] < 500, sent
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_server_options_from_settings_fields_named_like_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATIVA_API_KEY", "from-settings")
    monkeypatch.setenv("NATIVA_SERVE_TIMEOUT_S", "12.5")
    monkeypatch.setenv("NATIVA_SERVE_CORS_ORIGINS", "https://a,https://b")
    cfg = load_serve_config(load_settings())
    assert (cfg.key, cfg.request_timeout_s, cfg.cors_origins) == ("from-settings", 12.5, ("https://a", "https://b"))