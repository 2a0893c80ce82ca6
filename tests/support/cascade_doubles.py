"""A two-stage cascade of scripted models that records which stages were built, for the CLI's and the
server's cascade tests (both assert that the large stage is built only when a run escalates)."""

from __future__ import annotations

from nativa.models import ScriptedModel
from nativa.models.base import ChatModel
from nativa.models.cascade import CascadeModel


def scripted_cascade(small: list[str], large: list[str]) -> tuple[CascadeModel, list[str]]:
    """A `small, large` cascade answering from the two scripts, and the list of stages built so far."""
    built: list[str] = []

    def factory(stage: str) -> ChatModel:
        built.append(stage)
        return ScriptedModel(small if stage == "small" else large, name=stage)

    return CascadeModel(("small", "large"), factory), built
