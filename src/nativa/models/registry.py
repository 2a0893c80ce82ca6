"""Turn a model name from the CLI, the config or an HTTP request into a `ChatModel`.

Names: `small` and `large` (embedded GGUF weights), `openai:<model>` (an OpenAI-compatible server from
config), a path to a `.gguf` file, or `cascade[:stage,stage,...]` (those models as a chain, `cascade.py`). Instances are cached per process so that every caller shares one
loaded model.
"""

from __future__ import annotations

import threading
from pathlib import Path

from nativa.config import Settings
from nativa.errors import ModelNotFoundError
from nativa.models import weights
from nativa.models.base import ChatModel, ModelInfo
from nativa.models.cascade import CascadeModel, is_cascade, parse_cascade
from nativa.models.local import LocalModel
from nativa.models.openai_compat import OpenAICompatibleModel
from nativa.models.weights import ProgressFn

_cache: dict[tuple[str, str, int, int | None], ChatModel] = {}
_cache_lock = threading.Lock()

VALID_NAMES = "small, large, openai:<model>, a path to a .gguf file, or cascade[:small,large,...]"


def resolve_model(name: str, settings: Settings, progress: ProgressFn | None = None) -> ChatModel:
    """The model called `name`, created once per process and settings home; loading stays lazy."""
    key = (name, str(settings.home), settings.max_batch, settings.batch_n_ctx)
    with _cache_lock:
        model = _cache.get(key)
        if model is None:
            model = _create(name, settings, progress)
            _cache[key] = model
        return model


def _create(name: str, settings: Settings, progress: ProgressFn | None) -> ChatModel:
    if is_cascade(name):  # its stages come from this registry too, each on first use
        return CascadeModel(parse_cascade(name), lambda stage: resolve_model(stage, settings, progress),
                            sensitive_mode=settings.cascade_sensitive)
    if name in weights.EMBEDDED:
        spec = weights.EMBEDDED[name]
        if not weights.is_installed(spec):
            raise ModelNotFoundError(f"model '{name}' is not installed; install it with: {spec.install_hint()}")
        return LocalModel(name=name, spec=spec, models_dir=settings.models_dir, n_ctx=settings.n_ctx,
                          n_threads=settings.n_threads, progress=progress, max_batch=settings.max_batch,
                          batch_n_ctx=settings.batch_n_ctx)
    if name.startswith("openai:"):
        model = name.split(":", 1)[1]
        if not model:
            raise ModelNotFoundError("'openai:' needs a model name after the colon, e.g. openai:gpt-4o-mini")
        return OpenAICompatibleModel(model, base_url=settings.openai_base_url, api_key=settings.openai_api_key,
                                     timeout_s=settings.openai_timeout_s, max_retries=settings.openai_max_retries)
    if name.endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(f"no GGUF file at {path}")
        return LocalModel(name=path.stem, path=path, n_ctx=settings.n_ctx, n_threads=settings.n_threads,
                          max_batch=settings.max_batch, batch_n_ctx=settings.batch_n_ctx)
    raise ModelNotFoundError(f"unknown model '{name}'; valid: {VALID_NAMES}")


def list_models(settings: Settings) -> list[ModelInfo]:
    """What `nativa models` shows: the embedded models, and the configured remote one if any."""
    infos: list[ModelInfo] = []
    for spec in weights.EMBEDDED.values():
        path = weights.cache_path(spec, settings.models_dir)
        installed = weights.is_installed(spec)
        cached = _cache.get((spec.name, str(settings.home), settings.max_batch, settings.batch_n_ctx))
        infos.append(ModelInfo(
            name=spec.name,
            source=f"embedded: {spec.model_id} from {spec.package_prefix}1..{spec.parts}=={spec.version}",
            path=str(path) if path.exists() else None,
            size_bytes=path.stat().st_size if path.exists() else spec.size,
            verified=weights.is_verified(spec, path),
            loaded=bool(cached is not None and getattr(cached, "loaded", False)),
            installed=installed,
            notes=[] if installed else [f"not installed: {spec.install_hint()}"],
        ))
    if settings.openai_base_url:
        infos.append(ModelInfo(name="openai:<model>", source=f"remote: {settings.openai_base_url}", path=None,
                               size_bytes=None, verified=False, loaded=False))
    return infos
