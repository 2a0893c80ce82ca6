"""Sandbox runs in traces: which isolation tier ran the code, how long, how it ended and what killed it.

The sandbox package is written against this module, not the other way round (tracing imports none of
nativa's packages), so results are read duck-typed: a mapping or any object with the same attribute names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Self

from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from nativa.tracing.genai import SANDBOX_PREFIX, SANDBOX_SPAN, _OperationSpan
from nativa.tracing.spans import Attributes

# Result fields copied to `nativa.sandbox.<field>`; anything else in a result is left out of the trace
# (stdout and stderr can hold secrets and are large).
SANDBOX_FIELDS: Final = (
    "tier",
    "duration_s",
    "exit_code",
    "killed_by",
    "layers",
    "ok",
    "timed_out",
    "language",
)


def _field(result: Mapping[str, Any] | object, key: str) -> Any:
    if isinstance(result, Mapping):
        return result.get(key)
    return getattr(result, key, None)


def _attribute_value(value: Any) -> AttributeValue | None:
    if value is None:
        return None
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Sequence):
        return [str(v) for v in value]
    return str(value)


def sandbox_attributes(
    span: Span | _OperationSpan, result: Mapping[str, Any] | object
) -> dict[str, AttributeValue]:
    """Copy a sandbox result's tier, duration, exit code, killer and layers onto `span`."""
    attrs: dict[str, AttributeValue] = {}
    for key in SANDBOX_FIELDS:
        value = _attribute_value(_field(result, key))
        if value is not None:
            attrs[SANDBOX_PREFIX + key] = value
    span.set_attributes(attrs)
    return attrs


class SandboxSpan(_OperationSpan):
    """One sandboxed run; `set_result` copies the result's fields (the sandbox metrics are read from them)."""

    operation = "sandbox"

    def __init__(self, attributes: dict[str, AttributeValue]) -> None:
        super().__init__(SANDBOX_SPAN, SpanKind.INTERNAL, attributes)

    def __enter__(self) -> Self:
        super().__enter__()
        return self

    def set_result(self, result: Mapping[str, Any] | object) -> None:
        """Copy the run's tier, duration, exit code, killer and layers onto the span (a RunResult or its
        `to_dict`), where the sandbox metrics read them."""
        sandbox_attributes(self.span, result)


def sandbox_span(
    tier: str | None = None, *, language: str = "python", attributes: Attributes | None = None
) -> SandboxSpan:
    """Span for one sandboxed run of code, named `nativa.sandbox.run`."""
    attrs: dict[str, AttributeValue] = {"nativa.sandbox.language": language}
    if tier is not None:
        attrs["nativa.sandbox.tier"] = tier
    if attributes:
        attrs.update(attributes)
    return SandboxSpan(attrs)
