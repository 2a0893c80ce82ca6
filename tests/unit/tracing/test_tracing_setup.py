"""Setup: exporter selection from settings and OTEL_* variables, console output, re-setup, the OTLP breaker,
and a stopped or hung OTLP endpoint that must neither fail nor slow a run beyond a bound."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nativa import tracing
from nativa.config import Settings
from nativa.errors import ConfigError
from nativa.tracing import otlp
from nativa.tracing.jsonl import read_records


def test_default_exporter_is_jsonl(settings: Settings) -> None:
    assert tracing.exporter_names(settings) == ["jsonl"]


def test_exporters_from_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATIVA_TRACE_EXPORTERS", "JSONL, console")
    settings = Settings(home=settings.home)  # settings are read at the edge: after the variables are set
    assert tracing.exporter_names(settings) == ["jsonl", "console"]


def test_otlp_turns_on_with_an_endpoint(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4318/v1/traces")
    settings = Settings(home=settings.home)  # settings are read at the edge: after the variables are set
    assert tracing.exporter_names(settings) == ["jsonl", "otlp"]
    monkeypatch.setenv("NATIVA_TRACE_EXPORTERS", "none")
    settings = Settings(home=settings.home)
    assert tracing.exporter_names(settings) == []


def test_unknown_exporter_is_a_config_error(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATIVA_TRACE_EXPORTERS", "jsonl,zipkin")
    settings = Settings(home=settings.home)  # settings are read at the edge: after the variables are set
    with pytest.raises(ConfigError, match=r"unknown exporter 'zipkin'; valid: jsonl, console, otlp, none"):
        tracing.exporter_names(settings)


def test_protocol_and_address(monkeypatch: pytest.MonkeyPatch) -> None:
    assert otlp.otlp_protocol() == "http/protobuf"
    assert otlp.otlp_address() == ("localhost", 4318)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    assert otlp.otlp_protocol() == "grpc" and otlp.otlp_address() == ("localhost", 4317)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector.internal:5317")
    assert otlp.otlp_address() == ("collector.internal", 5317)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://otel.example/v1/traces")
    assert otlp.otlp_protocol("TRACES") == "http/protobuf" and otlp.otlp_address("TRACES") == (
        "otel.example",
        443,
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")
    with pytest.raises(ConfigError, match=r"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL='http/json' is not supported"):
        otlp.otlp_protocol("TRACES")


def test_console_exporter(settings: Settings) -> None:
    stream = io.StringIO()
    tracing.setup(settings, exporters=["console"], console_stream=stream)
    with tracing.span("visible step") as s:
        trace_id = format(s.get_span_context().trace_id, "032x")
    tracing.shutdown()
    line = stream.getvalue()
    assert f"[trace {trace_id[:12]}] visible step" in line and "UNSET" in line


def test_unknown_exporter_instance_name_is_refused(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="'kafka' is unknown"):
        tracing.setup(settings, exporters=["kafka"])
    assert tracing.state() is None


def test_setup_after_shutdown_installs_anew(tmp_path: Path) -> None:
    first = tracing.setup(Settings(home=tmp_path / "a"))
    with tracing.span("one"):
        pass
    tracing.shutdown()
    with tracing.span("between"):  # after shutdown: a no-op, not an error
        assert tracing.current_trace_id() is None
    second = tracing.setup(Settings(home=tmp_path / "b"))
    assert second is not first
    with tracing.span("two"):
        pass
    tracing.shutdown()
    assert [r["name"] for r in read_records(tmp_path / "a" / "data" / "traces")] == ["one"]
    assert [r["name"] for r in read_records(tmp_path / "b" / "data" / "traces")] == ["two"]


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_breaker_backs_off_and_recovers() -> None:
    clock = _Clock()
    breaker = otlp.Breaker(None, cooldown_s=2.0, max_cooldown_s=5.0, clock=clock)
    assert breaker.allow()
    breaker.record(False)
    assert not breaker.allow()
    clock.now += 2.1
    assert breaker.allow()
    breaker.record(False)  # second failure: 4 s
    clock.now += 3.9
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.allow()
    breaker.record(False)  # capped at 5 s
    clock.now += 5.1
    assert breaker.allow()
    breaker.record(True)
    breaker.record(False)  # success reset the cool-down to 2 s
    clock.now += 2.1
    assert breaker.allow()


def test_breaker_probe_refuses_a_closed_port_fast() -> None:
    breaker = otlp.Breaker(("127.0.0.1", _closed_port()))
    t0 = time.perf_counter()
    assert not breaker.allow()
    assert time.perf_counter() - t0 < 0.5
    assert not breaker.allow()  # now in cool-down, no new probe


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) but never answers: a hung collector."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield int(server.getsockname()[1])
    server.close()


def _workload(runs: int) -> float:
    t0 = time.perf_counter()
    for _ in range(runs):
        with tracing.agent_span("a"):
            for n in range(3):
                with tracing.attempt_span(n), tracing.model_span(model="m", provider="p") as ms:
                    ms.set_result(input_tokens=10, output_tokens=2)
    return time.perf_counter() - t0


def _baseline(tmp_path: Path, runs: int) -> float:
    tracing.setup(Settings(home=tmp_path / "baseline"))
    _workload(runs)  # warm
    assert tracing.force_flush(timeout_s=10.0)
    elapsed = _workload(runs)
    tracing.shutdown()
    return elapsed


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_stopped_otlp_endpoint_neither_fails_nor_slows_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    runs = 100  # 700 spans: more than one batch, well under the queue (2,048) so none are dropped there
    baseline = _baseline(tmp_path, runs)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    state = tracing.setup(Settings(home=tmp_path))
    assert len(state.guards) == 1 and len(state.metric_guards) == 1
    _workload(runs)
    assert tracing.force_flush(timeout_s=10.0)
    elapsed = _workload(runs)
    t0 = time.perf_counter()
    assert tracing.force_flush(timeout_s=10.0)
    flush_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    tracing.shutdown(timeout_s=10.0)
    shutdown_s = time.perf_counter() - t0

    assert elapsed < baseline * 2 + 0.5, f"run took {elapsed:.3f}s with a dead endpoint vs {baseline:.3f}s"
    assert flush_s < 2.0 and shutdown_s < 2.0, (flush_s, shutdown_s)
    guard = state.guards[0]
    assert (guard.exported, guard.dropped) == (0, 2 * runs * 7)
    local = list(read_records(tmp_path / "data" / "traces"))
    assert len(local) == 2 * runs * 7, "the local store must get every span"


def test_hung_otlp_endpoint_cannot_hold_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hung_port: int
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{hung_port}")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    state = tracing.setup(Settings(home=tmp_path))
    assert state.metric_guards == []
    t0 = time.perf_counter()
    _workload(20)
    assert time.perf_counter() - t0 < 2.0
    t0 = time.perf_counter()
    tracing.shutdown(timeout_s=1.0)
    assert time.perf_counter() - t0 < 2.0
    assert len(list(read_records(tmp_path / "data" / "traces"))) == 20 * 7
