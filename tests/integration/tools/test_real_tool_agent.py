"""The real embedded 0.5B model answers from the sample database through the ToolAgent (marked integration)."""

from __future__ import annotations

import pytest

from nativa.agent.tool_agent import ToolAgent
from nativa.config import Settings
from nativa.data import sample_db_url
from nativa.intent import IntentParser
from nativa.models import resolve_model
from nativa.tools import build_tools, close_tools

pytestmark = pytest.mark.integration


def test_real_small_model_answers_a_question_from_the_sample_database(real_settings: Settings) -> None:
    model = resolve_model("small", real_settings)
    tools = build_tools(real_settings, db=sample_db_url(), allow_hosts=[], allow_private=False,
                        allow_writes=False, python=False)
    try:
        agent = ToolAgent(model, tools, max_steps=4, intent_parser=IntentParser(model))
        result = agent.run("How many customers are there?")
    finally:
        close_tools(tools)
    trail = [(s.tool, s.arguments, s.observation[:200], s.error) for s in result.steps]
    assert result.steps and result.steps[0].tool == "sql", trail
    assert result.answer is not None and "240" in result.answer, (result.answer, trail)
    assert result.intent is not None and result.intent.kind == "sql"
