"""The memory layer's prompt files, loaded once, each with the hash that goes on the spans that use it."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class PromptFile:
    name: str
    text: str
    hash: str


@functools.cache
def load(name: str) -> PromptFile:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8").strip()
    return PromptFile(name, text, hashlib.sha256(text.encode("utf-8")).hexdigest()[:12])
