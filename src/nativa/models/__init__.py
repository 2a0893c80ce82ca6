"""Models: the embedded local default, any OpenAI-compatible server, and a scripted model for tests."""

from nativa.models.base import (
    ChatModel,
    Completion,
    Delta,
    GenerationOptions,
    Message,
    ModelInfo,
    TokenLogprob,
    as_messages,
)
from nativa.models.local import LocalModel
from nativa.models.openai_compat import OpenAICompatibleModel
from nativa.models.registry import list_models, resolve_model
from nativa.models.scripted import ScriptedModel, ScriptedReply

__all__ = [
    "ChatModel", "Completion", "Delta", "GenerationOptions", "LocalModel", "Message", "ModelInfo",
    "OpenAICompatibleModel", "ScriptedModel", "ScriptedReply", "TokenLogprob", "as_messages", "list_models", "resolve_model",
]
