"""Every class and function a package exports (its `__all__`) says why it exists: the API reference page
(docs/api.md, built by mkdocstrings) is generated from these docstrings, and a newcomer reads them first.
The same goes for the public methods and properties of every exported class: a caller relies on them."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Iterator

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


def _exported_classes() -> list[type]:
    """The classes a caller can reach by name: each package's `__all__`, Settings, and the errors module's own."""
    classes: dict[str, type] = {}
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                classes[f"{obj.__module__}.{obj.__qualname__}"] = obj
    from nativa import config, errors
    classes["nativa.config.Settings"] = config.Settings
    for obj in vars(errors).values():
        if inspect.isclass(obj) and obj.__module__ == errors.__name__:
            classes[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(classes.values())


def _generated(cls: type, name: str) -> bool:
    """Members a library wrote into the class (pydantic's model_* hooks, a dataclass's fields), not its author."""
    if name.startswith("model_") and any(base.__module__.startswith("pydantic") for base in cls.__mro__[1:]):
        return True
    return dataclasses.is_dataclass(cls) and name in {f.name for f in dataclasses.fields(cls)}


def _own_public_members(cls: type) -> Iterator[tuple[str, object]]:
    """The public methods and properties `cls` defines itself (inherited ones are checked on their own class)."""
    for name, member in vars(cls).items():
        if name.startswith("_") or _generated(cls, name):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        elif isinstance(member, property):
            member = member.fget
        elif hasattr(member, "func") and type(member).__name__ == "cached_property":
            member = member.func  # type: ignore[attr-defined]
        if inspect.isfunction(member):
            yield name, member


def test_the_exported_classes_public_methods_and_properties_have_docstrings() -> None:
    missing = [f"{cls.__module__}.{cls.__qualname__}.{name}" for cls in _exported_classes()
               for name, func in _own_public_members(cls) if not (func.__doc__ or "").strip()]
    assert missing == [], f"{len(missing)} public methods/properties without a docstring:\n" + "\n".join(missing)


def test_the_agents_public_methods_have_docstrings() -> None:
    from nativa.agent import AgentResult, CodeAgent
    from nativa.agent.tool_agent import ToolAgent

    for cls in (CodeAgent, ToolAgent, AgentResult):
        for name, member in vars(cls).items():
            func = member.fget if isinstance(member, property) else member
            if not name.startswith("_") and inspect.isfunction(func):
                assert inspect.getdoc(func), f"{cls.__name__}.{name} has no docstring"
