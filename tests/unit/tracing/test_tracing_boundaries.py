"""Tracing is imported by every package, so it may import none of them (DESIGN: one-way dependencies)."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("agent", "models", "sandbox", "tools", "memory", "intent", "serve", "cli", "bench")


def test_tracing_imports_only_errors_and_config() -> None:
    code = (
        "import json, sys, nativa.tracing, nativa.tracing.store, nativa.tracing.view;"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('nativa'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    assert "nativa.tracing" in loaded and "nativa.config" in loaded
    leaked = [m for m in loaded if m.split(".")[1:2] and m.split(".")[1] in FORBIDDEN]
    assert leaked == [], f"nativa.tracing pulled in {leaked}"


def test_otlp_exporters_load_only_when_used() -> None:
    code = "import json, sys, nativa.tracing; print(json.dumps([m for m in sys.modules if 'otlp.pr' in m]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
