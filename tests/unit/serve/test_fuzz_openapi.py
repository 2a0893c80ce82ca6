"""schemathesis over the server's own OpenAPI schema: valid and invalid requests to every route, zero 5xx.

Driven through Hypothesis directly (schemathesis's pytest plugin does not work with this pytest).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from unit.serve.helpers import EchoModel, FakeSandbox, make_app

from nativa.config import Settings


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_makes_the_server_fail(settings: Settings, mode: GenerationMode) -> None:
    app = make_app(settings, EchoModel(), sandbox=FakeSandbox(), max_body_bytes=65536)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/chat/completions", "/v1/code", "/v1/run", "/readyz"}
    statuses: dict[str, set[int]] = {}
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.method.upper() != "POST":
            continue  # nothing to get wrong in a GET without parameters
        _fuzz(operation, mode, statuses.setdefault(operation.path, set()))
    if mode is GenerationMode.POSITIVE:
        assert any(200 in codes for codes in statuses.values()), statuses
    else:
        assert all(codes and max(codes) < 500 for path, codes in statuses.items()), statuses


def _fuzz(operation: Any, mode: GenerationMode, seen: set[int]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(max_examples=25, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        seen.add(case.call_and_validate(checks=[not_a_server_error]).status_code)

    check()
