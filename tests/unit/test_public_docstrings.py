"""Every class and function a package exports (its `__all__`) says why it exists: the API reference page
(docs/api.md, built by mkdocstrings) is generated from these docstrings, and a newcomer reads them first."""

from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = ["nativa.agent", "nativa.intent", "nativa.memory", "nativa.models", "nativa.review", "nativa.sandbox",
            "nativa.scale", "nativa.serve", "nativa.tools", "nativa.tracing"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_class_and_function_has_a_docstring(package: str) -> None:
    module = importlib.import_module(package)
    exported = [(name, getattr(module, name)) for name in module.__all__]
    missing = [name for name, obj in exported
               if (inspect.isclass(obj) or inspect.isfunction(obj)) and not inspect.getdoc(obj)
               or inspect.isclass(obj) and (obj.__doc__ or "").startswith(f"{obj.__name__}(")]  # dataclass default
    assert missing == [], f"{package} exports these without a docstring: {', '.join(missing)}"


def test_the_agents_public_methods_have_docstrings() -> None:
    from nativa.agent import AgentResult, CodeAgent
    from nativa.agent.tool_agent import ToolAgent

    for cls in (CodeAgent, ToolAgent, AgentResult):
        for name, member in vars(cls).items():
            func = member.fget if isinstance(member, property) else member
            if not name.startswith("_") and inspect.isfunction(func):
                assert inspect.getdoc(func), f"{cls.__name__}.{name} has no docstring"
