"""`cascade`: a chain of models, the small one first, a larger one only when the evidence says the work needs it.

    --model cascade                              # small, then large
    --model cascade:small,large,openai:gpt-4o-mini

The chain itself decides nothing: the agents decide when to escalate, on evidence (failed checks, failed tool
calls, an answer no tool result grounds), and ask `stage(i)` for the next model. Stages are resolved through
the registry and built on first use, so a run the small model answers never loads the large one. A remote
stage is wrapped so it never receives work marked local_only or text in which `sensitive` finds a secret or
personal data: `admits` tells the agent beforehand (it then stays on the local stages), and the wrapper
refuses (or, with `cascade_sensitive = "redact"`, redacts) whatever would still reach it. As a plain
`ChatModel` (a chat) a cascade answers with its first stage: a single call carries no evidence to escalate
on. The intent parser escalates on the evidence it does have, the first stage's token probability of its
pick.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from opentelemetry import trace as otel

from nativa.errors import BadInputError, ModelNotFoundError, SensitiveDataError
from nativa.models import sensitive
from nativa.models.base import (
    ChatModel,
    Completion,
    Delta,
    GenerationOptions,
    Message,
    MessagesLike,
    as_messages,
)

DEFAULT_STAGES: tuple[str, ...] = ("small", "large")
VALID_STAGES = "small, large, openai:<model>, or a path to a .gguf file"
SensitiveMode = str  # "local": keep such work on local stages | "redact": send it with the values redacted
_EMBEDDED = ("small", "large")


def is_cascade(name: str) -> bool:
    """Whether a model name asks for a cascade (`cascade` or `cascade:<stage>,<stage>,...`)."""
    return name == "cascade" or name.startswith("cascade:")


def parse_cascade(name: str) -> tuple[str, ...]:
    """The stages a cascade name lists, checked one by one so a typo names the stage and what is valid."""
    if name == "cascade":
        return DEFAULT_STAGES
    if not name.startswith("cascade:"):
        raise ModelNotFoundError(f"{name!r} is not a cascade; write cascade or cascade:small,large")
    stages = tuple(s.strip() for s in name.split(":", 1)[1].split(","))
    for stage in stages:
        ok = stage in _EMBEDDED or stage.endswith(".gguf") or (stage.startswith("openai:") and len(stage) > 7)
        if not ok:
            shown = stage or "(empty)"
            raise ModelNotFoundError(f"cascade stage {shown!r} in {name!r} is not a model; valid stages: "
                                     f"{VALID_STAGES}")
    if len(stages) < 2:
        raise ModelNotFoundError(f"{name!r} has one stage; a cascade needs two or more, e.g. cascade:small,large")
    if len(set(stages)) != len(stages):
        raise ModelNotFoundError(f"{name!r} names a stage twice; each stage may appear once")
    return stages


class CascadeModel:
    """The stages of one cascade, built lazily, with how often each answered and what each may receive."""

    provider = "cascade"

    def __init__(self, stages: Sequence[str], factory: Callable[[str], ChatModel], *,
                 sensitive_mode: SensitiveMode = "local") -> None:
        if sensitive_mode not in ("local", "redact"):
            raise BadInputError(f"cascade_sensitive={sensitive_mode!r} is invalid; valid: local, redact")
        self.stages = tuple(stages)
        self.name = "cascade:" + ",".join(self.stages)
        self.remote = self.stages[0].startswith("openai:")
        self.sensitive_mode = sensitive_mode
        self.answered: Counter[str] = Counter()
        self._factory = factory
        self._built: dict[int, ChatModel] = {}
        self._lock = threading.Lock()
        self._wrap: Callable[[ChatModel], ChatModel] | None = None

    def wrapped(self, wrap: Callable[[ChatModel], ChatModel]) -> CascadeModel:
        """The same cascade (its built stages, counts and lock shared) whose stages reach callers through
        `wrap` (a server's per-job cancellation): wrapping the cascade itself would hide that it is one."""
        view = copy.copy(self)
        view._wrap = wrap
        return view

    # -- stages ------------------------------------------------------------------------------------
    def stage(self, i: int) -> ChatModel:
        """Stage i, built on first use (a remote one behind the privacy guard)."""
        with self._lock:
            model = self._built.get(i)
            if model is None:
                inner = self._factory(self.stages[i])
                model = _Guarded(inner, self.sensitive_mode) if inner.remote else inner
                self._built[i] = model
        return self._wrap(model) if self._wrap is not None else model

    def is_remote(self, i: int) -> bool:
        return self.stages[i].startswith("openai:")

    def built(self, i: int) -> ChatModel | None:
        """Stage i if it was ever needed, else None (it was never loaded)."""
        return self._built.get(i)

    def stage_models(self) -> list[tuple[str, ChatModel | None]]:
        """Each stage's name and model, None for one never built (the cost's zero rows)."""
        return [(label, self._built.get(i)) for i, label in enumerate(self.stages)]

    def loaded_stages(self) -> list[str]:
        """The stages whose model is in memory (remote ones: built), for /readyz and /metrics."""
        out = []
        for i, label in enumerate(self.stages):
            model = self._built.get(i)
            if model is not None and bool(getattr(model, "loaded", True)):
                out.append(label)
        return out

    def record(self, span: Any, answered: int, reasons: Sequence[str], privacy: Sequence[str], *,
               escalated: bool) -> None:
        """A run's cascade decisions on its span (`set_attribute`: the agent's or the intent parser's), under
        the names every user of a cascade shares: the stages, whether the work was escalated, which stage
        answered, why it was handed on, and the stages passed over to keep it local."""
        span.set_attribute("nativa.cascade.stages", ",".join(self.stages))
        span.set_attribute("nativa.cascade.escalated", escalated)
        span.set_attribute("nativa.cascade.stage", self.stages[answered])
        if reasons:
            span.set_attribute("nativa.cascade.reason", ",".join(reasons))
        if privacy:
            span.set_attribute("nativa.cascade.privacy", "kept_local")
            span.set_attribute("nativa.cascade.privacy_reason", "; ".join(privacy))

    def note_answer(self, i: int) -> None:
        """Count that stage i gave a run's answer."""
        with self._lock:
            self.answered[self.stages[i]] += 1

    def admits(self, i: int, texts: Iterable[str]) -> tuple[bool, str]:
        """Whether stage i may start from `texts`, and why: local stages take anything; a remote one nothing
        marked local_only, and no secret or personal data unless the user chose redaction."""
        if not self.is_remote(i):
            return True, ""
        marked = sensitive.local_only_reasons()
        if marked:
            return False, "local_only: " + ", ".join(marked)
        found = sensitive.kinds(texts)
        if not found:
            return True, ""
        if self.sensitive_mode == "redact":
            return True, "redacted: " + ", ".join(found)
        return False, "sensitive: " + ", ".join(found)

    def next_stage(self, after: int, texts: Sequence[str]) -> tuple[int | None, list[str]]:
        """The first stage after `after` that admits `texts`, and the reasons of the ones passed over."""
        skipped = []
        for i in range(after + 1, len(self.stages)):
            ok, why = self.admits(i, texts)
            if ok:
                return i, skipped
            skipped.append(f"{self.stages[i]} skipped ({why})")
        return None, skipped

    # -- as a plain ChatModel: the first stage answers ---------------------------------------------
    def complete(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Completion:
        return self.stage(0).complete(messages, options)

    def complete_many(self, messages: MessagesLike, options: GenerationOptions | None = None,
                      n: int = 1) -> list[Completion]:
        return self.stage(0).complete_many(messages, options, n)

    def stream(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Iterator[Delta]:
        return self.stage(0).stream(messages, options)

    def count_tokens(self, text: str) -> int:
        return self.stage(0).count_tokens(text)

    def load(self) -> None:
        """Warm the first stage only; the others load when a run first escalates to them."""
        first = self.stage(0)
        load = getattr(first, "load", None)
        if callable(load):
            load()


class _Guarded:
    """A remote stage that refuses (or redacts) what must stay local, and says so on the span, never the text.

    It forwards every `ChatModel` method, `complete_many` included: hiding it would silently turn batched
    candidates into one call each."""

    def __init__(self, inner: ChatModel, mode: SensitiveMode) -> None:
        self.inner = inner
        self.mode = mode
        self.name = inner.name
        self.provider = inner.provider
        self.remote = True

    def __getattr__(self, name: str) -> Any:
        # Facts about the model (loaded, n_ctx) pass through; no other way to generate does, unguarded.
        if "stream" in name or "complete" in name or name.startswith(("batch", "_")):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _checked(self, messages: MessagesLike) -> list[Message]:
        msgs = as_messages(messages)
        span = otel.get_current_span()
        marked = sensitive.local_only_reasons()
        if marked:
            span.set_attribute("nativa.cascade.privacy", "refused")
            span.set_attribute("nativa.cascade.privacy_reason", "local_only: " + ", ".join(marked))
            raise SensitiveDataError(f"not sent to remote model '{self.name}': the work is marked local_only "
                                     f"({', '.join(marked)})")
        found = sensitive.kinds(m.content for m in msgs)
        if not found:
            return msgs
        if self.mode == "redact":
            span.set_attribute("nativa.cascade.privacy", "redacted")
            span.set_attribute("nativa.cascade.privacy_reason", "redacted: " + ", ".join(found))
            return [Message(m.role, sensitive.redact(m.content)) for m in msgs]
        span.set_attribute("nativa.cascade.privacy", "refused")
        span.set_attribute("nativa.cascade.privacy_reason", "sensitive: " + ", ".join(found))
        raise SensitiveDataError(f"not sent to remote model '{self.name}': the request holds {', '.join(found)}; "
                                 "set cascade_sensitive = \"redact\" to send it redacted")

    def complete(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Completion:
        return self.inner.complete(self._checked(messages), options)

    def complete_many(self, messages: MessagesLike, options: GenerationOptions | None = None,
                      n: int = 1) -> list[Completion]:
        return self.inner.complete_many(self._checked(messages), options, n)

    def stream(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Iterator[Delta]:
        return self.inner.stream(self._checked(messages), options)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)
