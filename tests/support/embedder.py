"""A deterministic embedder for unit tests only: hashed bag of words, so texts sharing words score high.

It is never a default: nativa's settings cannot name it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence


class WordHashEmbedder:
    """Each lower-cased word adds +1 or -1 at a hashed index; the vector is then normalised."""

    def __init__(self, dim: int = 64, name: str = "test-words") -> None:
        self.name = name
        self._dim = dim
        self.calls = 0

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        out = []
        for text in texts:
            vec = [0.0] * self._dim
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                h = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big")
                vec[h % self._dim] += 1.0 if (h >> 16) & 1 else -1.0
            norm = math.sqrt(sum(x * x for x in vec)) or 1.0
            out.append([x / norm for x in vec] if any(vec) else [1.0 / math.sqrt(self._dim)] * self._dim)
        return out
