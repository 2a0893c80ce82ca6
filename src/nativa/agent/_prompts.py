"""Prompts are data files beside this module, not strings in code: they can be read, diffed and versioned,
and each model span records the file and its hash so a trace says which prompt produced an answer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template


@dataclass(frozen=True, slots=True)
class Prompt:
    name: str
    text: str

    @property
    def file(self) -> str:
        return f"agent/prompts/{self.name}.txt"

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def render(self, **values: str) -> str:
        """`$name` placeholders, so braces in code and JSON need no escaping."""
        return Template(self.text).safe_substitute(values).strip()


@cache
def load_prompt(name: str) -> Prompt:
    text = resources.files("nativa.agent.prompts").joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return Prompt(name, text)
