"""The ChatModel contract (tests/support/chat_model_contract.py) on the real implementations: the embedded
0.5B GGUF in-process, and the OpenAI-compatible client against llama-cpp-python's own server running the
same GGUF on loopback (a real peer, real wire format). The scripted model runs the same checks in
tests/unit/models/test_chat_model_conformance.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.chat_model_contract import CONTRACT, ModelCase, ids
from support.llama_server import llama_cpp_server
from support.openai_server import free_port

from nativa.config import Settings
from nativa.models import LocalModel, OpenAICompatibleModel, resolve_model

pytestmark = pytest.mark.integration

N_CTX = 2048
TOO_LONG = "word " * 5000  # past the window both cases run with


@pytest.fixture(scope="module")
def local() -> LocalModel:
    """The embedded small model from the machine's real cache (module scope: loaded once)."""
    home = Path(os.environ.get("NATIVA_HOME") or Path.home() / ".cache" / "nativa")
    model = resolve_model("small", Settings(home=home, n_ctx=N_CTX))
    assert isinstance(model, LocalModel)
    model.load()
    return model


@pytest.fixture(scope="module")
def llama_url(local: LocalModel) -> Iterator[str]:
    assert local.path is not None
    with llama_cpp_server(local.path, n_ctx=N_CTX, threads=local.n_threads) as url:
        yield url


@pytest.fixture(scope="module", params=["local", "openai-compatible"])
def case(request: pytest.FixtureRequest, local: LocalModel, tmp_path_factory: pytest.TempPathFactory) -> ModelCase:
    if request.param == "local":
        junk = tmp_path_factory.mktemp("broken") / "broken.gguf"
        junk.write_bytes(b"not a gguf file" * 64)
        return ModelCase("local", local, failing=lambda: LocalModel(name="broken", path=junk),
                         tokens=local.count_tokens, too_long=TOO_LONG)
    url = request.getfixturevalue("llama_url")
    remote = OpenAICompatibleModel("small", base_url=url, timeout_s=120, max_retries=0)
    dead = f"http://127.0.0.1:{free_port()}/v1"
    # The server runs the same GGUF: its usage report counts with the embedded model's tokenizer.
    return ModelCase("openai-compatible", remote, tokens=local.count_tokens, too_long=TOO_LONG,
                     failing=lambda: OpenAICompatibleModel("small", base_url=dead, timeout_s=5, max_retries=0))


@pytest.mark.parametrize("check", CONTRACT, ids=ids)
def test_real_models_honour_the_chat_model_contract(case: ModelCase, check: Callable[[ModelCase], None]) -> None:
    check(case)
