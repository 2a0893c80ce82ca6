"""A remote cascade stage never receives what must stay local, checked on the wire: a real OpenAI-compatible
stand-in server on loopback records every request, and the test fails if any carries a marked value
(marked integration: it starts a server)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from support.openai_server import ServerScript, StandInServer
from unit.serve.helpers import FakeSandbox, fenced

from nativa.agent import CodeAgent
from nativa.agent.tool_agent import ToolAgent
from nativa.config import Settings
from nativa.models import ScriptedModel, resolve_model
from nativa.models.base import ChatModel
from nativa.models.cascade import CascadeModel
from nativa.tools import tool

pytestmark = pytest.mark.integration

EMAIL = "ana.lopez@example.org"
KEY = "sk-proj-" + "Q" * 32
TESTS = "assert add(2, 3) == 5\n"


@pytest.fixture
def server() -> Iterator[StandInServer]:
    with StandInServer(ServerScript(reply=fenced("def add(a, b):\n    return a + b"), model="big")) as s:
        yield s


def wire(server: StandInServer) -> str:
    return json.dumps(server.script.requests)


def cascade(server: StandInServer, small: ChatModel, tmp_home: str, **settings: object) -> CascadeModel:
    cfg = Settings(home=tmp_home, openai_base_url=server.url, openai_api_key="test", openai_max_retries=0,
                   **settings)  # type: ignore[arg-type]

    def factory(stage: str) -> ChatModel:
        return small if stage == "small" else resolve_model(stage, cfg)

    return CascadeModel(("small", "openai:big"), factory, sensitive_mode=cfg.cascade_sensitive)


def test_clean_work_escalates_to_the_remote_stage(server: StandInServer, tmp_path: object) -> None:
    small = ScriptedModel([fenced("def add(a, b):\n    return a * b")], name="small")
    result = CodeAgent(cascade(server, small, str(tmp_path)), FakeSandbox(), max_attempts=1, candidates=1,
                       generate_tests="never").solve("write add(a, b)", tests=TESTS)
    assert result.answered_by == "openai:big" and result.success
    assert len(server.script.requests) == 1  # the remote stage was really called, over HTTP


@pytest.mark.parametrize("secret", [EMAIL, KEY])
def test_a_task_holding_sensitive_data_never_reaches_the_server(server: StandInServer, tmp_path: object,
                                                               secret: str) -> None:
    small = ScriptedModel([fenced("def add(a, b):\n    return a * b")], name="small")
    task = f"write add(a, b); config: {secret}"
    result = CodeAgent(cascade(server, small, str(tmp_path)), FakeSandbox(), max_attempts=1, candidates=1,
                       generate_tests="never").solve(task, tests=TESTS)
    assert secret not in wire(server), "the remote stage received a marked value"
    assert server.script.requests == [] and result.answered_by == "small"


def test_a_local_only_request_never_reaches_the_server(server: StandInServer, tmp_path: object) -> None:
    small = ScriptedModel([fenced("def add(a, b):\n    return a * b")], name="small")
    CodeAgent(cascade(server, small, str(tmp_path)), FakeSandbox(), max_attempts=1, candidates=1,
              generate_tests="never").solve("write add(a, b)", tests=TESTS, local_only=True)
    assert server.script.requests == []


def test_with_redaction_the_server_gets_the_task_without_the_value(server: StandInServer, tmp_path: object) -> None:
    small = ScriptedModel([fenced("def add(a, b):\n    return a * b")], name="small")
    chain = cascade(server, small, str(tmp_path), cascade_sensitive="redact")
    result = CodeAgent(chain, FakeSandbox(), max_attempts=1, candidates=1,
                       generate_tests="never").solve(f"write add(a, b); mail {EMAIL}", tests=TESTS)
    assert len(server.script.requests) == 1 and result.answered_by == "openai:big"
    assert EMAIL not in wire(server) and "[redacted email]" in wire(server)


@tool
def lookup(name: str) -> str:
    """A person's contact details."""
    return f"{name}: {EMAIL}, +44 20 7946 0958"


@tool
def ledger(month: str) -> str:
    """The month's ledger total (a tool whose results must stay on this machine)."""
    return f"{month}: total 982.17 EUR"


ledger.local_only = True  # type: ignore[attr-defined]


def test_a_tool_result_with_personal_data_never_reaches_the_server(tmp_path: object) -> None:
    call = json.dumps({"tool": "lookup", "arguments": {"name": "ana"}})
    with StandInServer(ServerScript(reply=call, model="big")) as server:
        small = ScriptedModel([call, json.dumps({"tool": "final_answer", "arguments": {"answer": "her id is 7"}})],
                              name="small")
        result = ToolAgent(cascade(server, small, str(tmp_path)), [lookup], max_steps=3).run("how do I reach ana?")
        assert [e.reason for e in result.escalations] == ["ungrounded"]  # "7" is in no tool result
        assert EMAIL not in wire(server) and "7946" not in wire(server), "a tool result reached the server"
        assert len(server.script.requests) == 1  # the question went; the tool result with the email did not
        assert result.answer == "her id is 7" and result.answered_by == "small"  # kept the local answer


def test_a_local_only_tool_result_never_reaches_the_server(tmp_path: object) -> None:
    call = json.dumps({"tool": "ledger", "arguments": {"month": "2024-11"}})
    with StandInServer(ServerScript(reply=call, model="big")) as server:
        small = ScriptedModel([call, json.dumps({"tool": "final_answer", "arguments": {"answer": "about 1000"}})],
                              name="small")
        result = ToolAgent(cascade(server, small, str(tmp_path)), [ledger], max_steps=3).run("ledger total for 2024-11?")
        # the ledger's result made the whole run local-only: the remote stage is not asked at all
        assert server.script.requests == [] and result.escalations == [] and result.answered_by == "small"
