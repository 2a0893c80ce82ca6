"""The memory layer's prompt files, each with the hash that goes on the spans that use it.

Memory uses a prompt's text without its trailing newline and a 12-character hash (its span attributes and
token counts were measured that way), so it keeps that shape over the one loader in `nativa.prompts`.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from nativa.prompts import load_prompt


@dataclass(frozen=True, slots=True)
class PromptFile:
    """A memory prompt: its file name, its text without the trailing newline, and the hash its spans carry."""

    name: str
    text: str
    hash: str


@functools.cache
def load(name: str) -> PromptFile:
    """The memory prompt `name` (with or without `.txt`), read once per process."""
    text = load_prompt(name.removesuffix(".txt"), "memory").text.strip()
    return PromptFile(name, text, hashlib.sha256(text.encode("utf-8")).hexdigest()[:12])
