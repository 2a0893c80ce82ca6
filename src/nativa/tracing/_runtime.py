"""The one mutable place of the tracing package: which tracer the span helpers use right now.

Span helpers read `RUNTIME` on every call instead of asking OpenTelemetry's globals, because the globals can
be set only once per process, while tests, the benchmark (tracing on vs off in one run) and `setup` after
`shutdown` need to swap providers. Until `setup` runs, the tracer is OpenTelemetry's proxy: spans are cheap
no-ops, or land in whatever provider the host application installed globally.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import Tracer

if TYPE_CHECKING:
    from nativa.config import Settings

SCOPE = "nativa"


@dataclass
class Runtime:
    """Current tracer and the settings given to `setup` (they say whether content may be recorded)."""

    tracer: Tracer = field(default_factory=lambda: trace.get_tracer(SCOPE))
    settings: Settings | None = None

    def reset(self) -> None:
        """Back to the global tracer and no settings (`shutdown` does this), so a later `setup` starts clean."""
        self.tracer = trace.get_tracer(SCOPE)
        self.settings = None


RUNTIME = Runtime()
