"""The ChatModel contract (tests/support/chat_model_contract.py) on the scripted model that unit tests use:
a test double that drifts from the real models would let unit tests pass on behaviour no model has.

The embedded model and the OpenAI-compatible client run the same checks in
tests/integration/models/test_chat_model_conformance.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.chat_model_contract import CONTRACT, SCRIPTED_REPLY, ModelCase, ids

from nativa.errors import ModelError
from nativa.models import ScriptedModel


@pytest.fixture
def case() -> ModelCase:
    model = ScriptedModel([SCRIPTED_REPLY] * 8)
    return ModelCase("scripted", model, failing=lambda: ScriptedModel([ModelError("scripted failure")] * 2),
                     tokens=model.count_tokens)


@pytest.mark.parametrize("check", CONTRACT, ids=ids)
def test_scripted_model_honours_the_chat_model_contract(case: ModelCase,
                                                        check: Callable[[ModelCase], None]) -> None:
    check(case)
