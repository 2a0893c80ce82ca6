"""Prompts are data files in this package, not strings in code: they can be read, diffed and versioned,
and each model span records the file and its hash so a trace says which prompt produced an answer.

They sit below every layer that asks a model something (the agent, the intent parser, memory), so each
may use them without importing another's internals. One folder per user: `agent/`, `memory/`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template


@dataclass(frozen=True, slots=True)
class Prompt:
    """One prompt file as shipped; its `hash` identifies the version on every span that uses it."""

    name: str
    text: str
    folder: str = "agent"

    @property
    def file(self) -> str:
        """The prompt's path in the package, as a span's `nativa.prompt.file` names it."""
        return f"prompts/{self.folder}/{self.name}.txt"

    @property
    def hash(self) -> str:
        """The first 16 hex digits of the text's sha256: a changed prompt gets a new hash on its spans."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def render(self, **values: str) -> str:
        """`$name` placeholders, so braces in code and JSON need no escaping."""
        return Template(self.text).safe_substitute(values).strip()


@cache
def load_prompt(name: str, folder: str = "agent") -> Prompt:
    """The prompt `<folder>/<name>.txt`, read once per process (the one place prompt files are read)."""
    text = resources.files(f"nativa.prompts.{folder}").joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return Prompt(name, text, folder)
