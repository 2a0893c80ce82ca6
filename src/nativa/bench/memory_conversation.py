"""`nativa bench memory`, the conversation half: facts said early in a conversation several times longer than
the model's context, asked about at the end, on the embedded models.

Three ways to fill the prompt, same model, same questions, same run (the model is loaded once with a
window large enough for the whole history; the first two are held to the smaller prompt budget):
- the context builder: recalled memories + the stored running summary + the newest turns, under the budget;
- last turns only: the newest turns that fit the same budget;
- the whole history: every turn (with the context raised until it fits).
An answer is correct when it contains the fact's value. The prompt tokens are the model's own counts.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nativa.bench._stats import median
from nativa.bench.memory_data import Conversation, conversations
from nativa.config import Settings
from nativa.memory import Memory, open_memory
from nativa.memory.context import MESSAGE_OVERHEAD, REPLY_OVERHEAD, ContextBuilder
from nativa.memory.types import Embedder
from nativa.models.base import ChatModel, GenerationOptions, Message
from nativa.prompts import memory as memory_prompts

Log = Callable[[str], None]
SYSTEMS = ("context builder", "last turns only", "whole history")


@dataclass(slots=True)
class ConversationResult:
    """How one system answered the questions about facts told earlier in long conversations, and at what
    prompt cost."""

    model: str
    system: str
    questions: int
    correct: int
    mean_prompt_tokens: float
    median_answer_s: float
    context_tokens: int  # the window this system had: the budget, or what the whole history needed
    history_tokens: float  # mean length of the conversations, in the model's tokens
    summary_s: float = 0.0  # time spent writing the stored summaries (the builder only; paid once)

    @property
    def accuracy(self) -> float:
        """The share of questions answered right (0 with no questions)."""
        return self.correct / self.questions if self.questions else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON with its derived figures, so the results file can be read without this code."""
        return asdict(self) | {"accuracy": self.accuracy}


def run_conversation(settings: Settings, model_names: list[str], embedder: Embedder, log: Log, *,
                     count: int = 4, facts_each: int = 8, filler_turns: int = 60, window: int = 2048,
                     whole_window: int = 16384, reply_tokens: int = 32) -> list[ConversationResult]:
    """Long conversations with facts buried among filler turns, answered by each model with the memory's
    context in a small window and with the whole history in a large one."""
    from nativa.models.registry import resolve_model

    convs = conversations(count, facts_each, filler_turns)
    results: list[ConversationResult] = []
    for name in model_names:
        model = resolve_model(name, settings.model_copy(update={"n_ctx": whole_window}))
        load = getattr(model, "load", None)
        if callable(load):
            load()
        root = Path(tempfile.mkdtemp(prefix="nativa-bench-conv-"))
        memory = open_memory(Settings(home=root, memory_url=str(root / "conv.db")), embedder=embedder)
        try:
            results.extend(_one_model(model, memory, convs, log, window=window, whole_window=whole_window,
                                      reply_tokens=reply_tokens))
        finally:
            memory.close()
            shutil.rmtree(root, ignore_errors=True)
    return results


def _one_model(model: ChatModel, base: Memory, convs: list[Conversation], log: Log, *, window: int,
               whole_window: int, reply_tokens: int) -> list[ConversationResult]:
    options = GenerationOptions(max_tokens=reply_tokens, temperature=0.0)
    system = memory_prompts.load("chat_system.txt").text
    budget = window - reply_tokens
    tally: dict[str, dict[str, list[float]]] = {s: {"ok": [], "tokens": [], "s": []} for s in SYSTEMS}
    summary_s = 0.0
    history: list[int] = []
    for conv in convs:
        memory = base.for_owner(conv.name)  # each conversation is another user: no recall across them
        session = memory.session(conv.name, create=True)
        for user, assistant in conv.turns:
            memory.add_turn(session, [("user", user), ("assistant", assistant)], count_tokens=model.count_tokens)
        stored = memory.messages(session)
        history.append(sum(model.count_tokens(m.content) + MESSAGE_OVERHEAD for m in stored))
        log(f"conversation: {model.name} {conv.name}: {len(stored)} messages, {history[-1]} tokens")
        builder = ContextBuilder(memory, model, budget_tokens=budget, reply_tokens=reply_tokens, k=5)
        t0 = time.perf_counter()
        builder.build(session, conv.questions[0].text)  # folds the old turns into the stored summary, once
        summary_s += time.perf_counter() - t0
        makers: tuple[tuple[str, Callable[[str], list[Message]]], ...] = (
            ("whole history", lambda q, stored=stored: _whole(system, stored, q)),
            ("last turns only", lambda q, stored=stored: _last(system, stored, q, budget, model)),
            ("context builder", lambda q, b=builder, s=session: b.build(s, q).messages))
        for label, make in makers:
            for q in conv.questions:
                messages = make(q.text)
                t1 = time.perf_counter()
                completion = model.complete(messages, options)
                tally[label]["s"].append(time.perf_counter() - t1)
                tally[label]["ok"].append(float(q.answer.lower() in completion.text.lower()))
                tally[label]["tokens"].append(float(completion.input_tokens))
            got = tally[label]["ok"][-len(conv.questions):]
            log(f"conversation: {model.name} {conv.name} {label}: {int(sum(got))}/{len(got)}")
    out = []
    for label in SYSTEMS:
        t = tally[label]
        ctx = window if label != "whole history" else whole_window
        out.append(ConversationResult(model.name, label, len(t["ok"]), int(sum(t["ok"])),
                                      sum(t["tokens"]) / len(t["tokens"]), median(t["s"]), ctx,
                                      sum(history) / len(history), summary_s if label == "context builder" else 0.0))
    return out


def _whole(system: str, stored: list[Any], query: str) -> list[Message]:
    return [Message("system", system), *(Message(m.role, m.content) for m in stored), Message("user", query)]


def _last(system: str, stored: list[Any], query: str, budget: int, model: ChatModel) -> list[Message]:
    used = model.count_tokens(system) + model.count_tokens(query) + 2 * MESSAGE_OVERHEAD + REPLY_OVERHEAD
    kept: list[Message] = []
    for m in reversed(stored):
        used += model.count_tokens(m.content) + MESSAGE_OVERHEAD
        if used > budget:
            break
        kept.append(Message(m.role, m.content))
    return [Message("system", system), *reversed(kept), Message("user", query)]
