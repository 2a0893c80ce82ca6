"""Export over OTLP (HTTP and gRPC) to a real receiver nobody here wrote, Arize Phoenix, and read it back.

Phoenix runs from its own virtual environment (scripts/install_otlp_receiver.sh), started on loopback ports
by this module and stopped after it; the spans are read back through Phoenix's REST API.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.promised import promised

from nativa import tracing
from nativa.config import Settings

# Read at import: the suite's autouse fixture removes NATIVA_* variables before each test runs.
PHOENIX_VENV = Path(
    os.environ.get("NATIVA_PHOENIX_VENV") or Path.home() / ".cache" / "nativa" / "phoenix-venv"
)
PHOENIX_BIN = PHOENIX_VENV / "bin" / "phoenix"
START_TIMEOUT_S = 180.0

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not PHOENIX_BIN.exists(),
        reason=promised("the OTLP receiver", f"the OTLP receiver (Arize Phoenix) is not installed at {PHOENIX_VENV}: "
                        "run scripts/install_otlp_receiver.sh (or set NATIVA_PHOENIX_VENV)"),
    ),
]


@dataclass(frozen=True)
class Phoenix:
    http_port: int
    grpc_port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=10) as response:
            return json.loads(response.read())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    workdir = tmp_path_factory.mktemp("phoenix")
    server = Phoenix(http_port=_free_port(), grpc_port=_free_port())
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(server.http_port),
        "PHOENIX_GRPC_PORT": str(server.grpc_port),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    }
    log = open(workdir / "phoenix.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(PHOENIX_BIN), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"phoenix exited with {proc.returncode}:\n{(workdir / 'phoenix.log').read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(server.base + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"phoenix did not answer within {START_TIMEOUT_S:.0f}s")
            time.sleep(0.5)
        yield server
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        log.close()


def _agent_run(tag: str) -> str:
    with tracing.agent_span("code_agent", attributes={"test.tag": tag}) as run, tracing.attempt_span(1):
        with tracing.model_span(
            model="qwen2.5-coder-0.5b",
            provider="llama.cpp",
            temperature=0.0,
            max_tokens=128,
            prompt_file="code_agent.yaml",
            prompt_hash="sha256:feed",
        ) as ms:
            ms.first_token()
            ms.set_result(input_tokens=321, output_tokens=54, finish_reasons=["stop"])
        with tracing.sandbox_span("A") as sb:
            sb.set_result({"tier": "A", "duration_s": 0.02, "exit_code": 0, "layers": ["bwrap"]})
        try:
            with tracing.tool_span("sql"):
                raise PermissionError("write statements are refused")
        except PermissionError:
            pass
    assert run.trace_id is not None
    return run.trace_id


def _spans_of(phoenix: Phoenix, trace_id: str, expected: int) -> list[dict[str, Any]]:
    """Phoenix ingests asynchronously: poll until the whole trace is there."""
    deadline = time.monotonic() + 60
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        spans = phoenix.get(f"/v1/projects/default/spans?trace_id={trace_id}&limit=100")["data"]
        if len(spans) >= expected:
            return spans
        time.sleep(0.5)
    pytest.fail(f"phoenix has {len(spans)} of {expected} spans of trace {trace_id}")


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_spans_arrive_in_phoenix_with_their_tree_and_attributes(
    phoenix: Phoenix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    port = phoenix.grpc_port if protocol == "grpc" else phoenix.http_port
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")  # Phoenix ingests traces only
    state = tracing.setup(Settings(home=tmp_path))
    assert len(state.guards) == 1  # OTLP switched on by the standard variable alone
    trace_id = _agent_run(protocol)
    tracing.shutdown()
    assert state.guards[0].exported == 5 and state.guards[0].dropped == 0

    spans = _spans_of(phoenix, trace_id, expected=5)
    by_name = {s["name"]: s for s in spans}
    assert set(by_name) == {
        "invoke_agent code_agent",
        "attempt 1",
        "chat qwen2.5-coder-0.5b",
        "nativa.sandbox.run",
        "execute_tool sql",
    }
    assert all(s["context"]["trace_id"] == trace_id for s in spans)
    agent, attempt = by_name["invoke_agent code_agent"], by_name["attempt 1"]
    assert agent["parent_id"] is None and agent["attributes"]["test.tag"] == protocol
    assert attempt["parent_id"] == agent["context"]["span_id"]
    for child in ("chat qwen2.5-coder-0.5b", "nativa.sandbox.run", "execute_tool sql"):
        assert by_name[child]["parent_id"] == attempt["context"]["span_id"]

    chat = by_name["chat qwen2.5-coder-0.5b"]["attributes"]
    assert chat["gen_ai.request.model"] == "qwen2.5-coder-0.5b"
    assert chat["gen_ai.usage.input_tokens"] == 321 and chat["gen_ai.usage.output_tokens"] == 54
    assert chat["nativa.prompt.hash"] == "sha256:feed"
    sandbox = by_name["nativa.sandbox.run"]["attributes"]
    assert sandbox["nativa.sandbox.tier"] == "A"

    tool = by_name["execute_tool sql"]
    assert tool["status_code"] == "ERROR"
    assert "write statements are refused" in tool["status_message"]
    assert tool["attributes"]["error.type"] == "PermissionError"
    assert any(e["name"] == "exception" for e in tool["events"])

    # the local store got the same trace
    from nativa.tracing.store import TraceStore

    local = TraceStore(tmp_path / "data" / "traces").get(trace_id)
    assert {s.span_id for s in local.spans} == {s["context"]["span_id"] for s in spans}
