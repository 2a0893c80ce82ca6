"""nativa: a local-first runtime where a model writes Python, a sandbox runs it and the model repairs it."""

from __future__ import annotations

__version__ = "0.1.0"
