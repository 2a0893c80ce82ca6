"""The context builder: what a model sees of a long conversation, under a token budget.

`build_context(session, query, model=..., memory=...)` assembles, in this order of priority:
the system prompt and the new message (always), the long-term memories recalled for the message (up to a
quarter of the budget, placed with the new message), a running summary of the older turns (in the system
message), and as many of the most recent turns as fit. Tokens are counted with the model's own tokenizer. When turns that are not yet summarised no longer
fit, the model folds the oldest of them into the summary, which is stored, so it is never recomputed; it
folds down to half of the room for recent turns, so the next few turns fit without another summary.

Spans: `memory.context` (budget, tokens per part), `memory.recall` (ids and scores), `memory.summarize`
(which messages, tokens), so a trace shows why the model knew or did not know something.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nativa import tracing
from nativa.errors import BadInputError
from nativa.memory.memory import Memory
from nativa.memory.types import Recall, Session, StoredMessage, Summary
from nativa.models.base import ChatModel, GenerationOptions, Message
from nativa.models.traced import traced_complete
from nativa.prompts import memory as prompts

# A chat template wraps each message in markers: ChatML (Qwen) spends 5 tokens on
# "<|im_start|>role\n" + "<|im_end|>\n"; 6 over-counts it slightly, so a context never overflows.
MESSAGE_OVERHEAD = 6
REPLY_OVERHEAD = 3  # "<|im_start|>assistant\n" that opens the reply
MIN_SUMMARY_TOKENS = 32


@dataclass(slots=True)
class Context:
    """The messages to send and why they are what they are."""

    messages: list[Message]
    recalled: list[Recall]
    summary: Summary | None
    recent: list[StoredMessage]
    tokens: int
    budget: int
    summarized: int = 0  # messages folded into the summary while building this context (0: reused)
    parts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The whole context as JSON, to inspect what was sent and how the budget went (a turn's `to_dict`
        is the short form)."""
        return {"messages": [m.to_dict() for m in self.messages], "recalled": [r.to_dict() for r in self.recalled],
                "summary": self.summary.content if self.summary else None, "recent": len(self.recent),
                "tokens": self.tokens, "budget": self.budget, "summarized": self.summarized, "parts": self.parts}


def context_window(model: ChatModel, default: int = 4096) -> int:
    """The model's context size where it says (the embedded model does), else `default`."""
    n_ctx = getattr(model, "n_ctx", None)
    return n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else default


class ContextBuilder:
    """Builds contexts for one model and memory; the knobs are the shares of the budget each part may take."""

    def __init__(self, memory: Memory, model: ChatModel, *, budget_tokens: int | None = None, reply_tokens: int = 512,
                 system_prompt: str | None = None, k: int = 5, min_score: float | None = 0.25,
                 namespace: str = "default", memory_share: float = 0.25, summary_share: float = 0.1,
                 n_ctx: int | None = None) -> None:
        self.memory = memory
        self.model = model
        self.n_ctx = n_ctx or context_window(model)
        self.reply_tokens = reply_tokens
        self.budget = budget_tokens if budget_tokens is not None else self.n_ctx - reply_tokens
        if self.budget < 64:
            raise BadInputError(f"the context budget is {self.budget} tokens; give at least 64 (budget_tokens, or "
                                "a larger context than the reply's max tokens)")
        self.system_prompt = system_prompt if system_prompt is not None else prompts.load("chat_system.txt").text
        self.k = k
        self.min_score = min_score
        self.namespace = namespace
        self.memory_share = memory_share
        self.summary_tokens = max(MIN_SUMMARY_TOKENS, int(self.budget * summary_share))

    def count(self, text: str) -> int:
        """Tokens of one message as the model will see it, chat markers included."""
        return self.model.count_tokens(text) + MESSAGE_OVERHEAD

    def build(self, session: Session, query: str) -> Context:
        """The messages for `query` in `session` within the token budget (system prompt, recalled memories,
        summary, recent messages), with one `memory.context` span saying how it was spent."""
        with tracing.span("memory.context", {"nativa.memory.session": session.name,
                                             "nativa.memory.budget_tokens": self.budget}) as span:
            context = self._build(session, query)
            span.set_attributes({f"nativa.memory.tokens.{part}": n for part, n in context.parts.items()})
            span.set_attributes({
                "nativa.memory.context_tokens": context.tokens, "nativa.memory.recent_messages": len(context.recent),
                "nativa.memory.recalled": len(context.recalled), "nativa.memory.summarized_now": context.summarized,
                "nativa.memory.summary_upto": context.summary.upto_message_id if context.summary else 0})
        return context

    def _build(self, session: Session, query: str) -> Context:
        base = self.count(self.system_prompt) + self.count(query) + REPLY_OVERHEAD
        if base > self.budget:
            raise BadInputError(f"the message alone takes {base} tokens with the system prompt, over the context "
                                f"budget of {self.budget}; shorten it")
        recalled = self._recall(query)
        summary = self.memory.sessions.latest_summary(session)
        pending = self.memory.sessions.messages(session, after_id=summary.upto_message_id if summary else 0)
        room = self.budget - base - self._block_tokens("memories.txt", [r.item.text for r in recalled])
        summarized = 0
        recent = self._newest_fitting(pending, room - self._summary_cost(summary))
        if len(recent) < len(pending):  # older turns that fit nowhere: fold them into the summary
            keep = self._newest_fitting(pending, (room - self.summary_tokens - self._header("summary.txt")) // 2)
            folded = pending[:len(pending) - len(keep)]
            summary = self._summarize(session, summary, folded)
            summarized = len(folded)
            recent = self._newest_fitting(keep, room - self._summary_cost(summary))
        recent_ids = {m.id for m in recent}
        recalled = [r for r in recalled if r.item.metadata.get("message_id") not in recent_ids]  # already in view
        return self._assemble(query, recalled, summary, recent, summarized, base)

    # -- parts -------------------------------------------------------------------------------------
    def _recall(self, query: str) -> list[Recall]:
        if self.memory.embedder is None or self.k <= 0:
            return []
        hits = self.memory.recall(query, k=self.k, namespace=self.namespace, min_score=self.min_score)
        limit = int(self.budget * self.memory_share)
        kept: list[Recall] = []
        for hit in hits:
            if self._block_tokens("memories.txt", [r.item.text for r in [*kept, hit]]) > limit:
                break
            kept.append(hit)
        return kept

    def _header(self, name: str) -> int:
        return self.model.count_tokens(prompts.load(name).text + "\n\n")

    def _block_tokens(self, header: str, lines: Sequence[str]) -> int:
        if not lines:
            return 0
        return self._header(header) + sum(self.model.count_tokens(f"- {line}\n") for line in lines)

    def _summary_cost(self, summary: Summary | None) -> int:
        return 0 if summary is None else self._header("summary.txt") + summary.tokens

    def _newest_fitting(self, messages: Sequence[StoredMessage], room: int) -> list[StoredMessage]:
        used, kept = 0, 0
        for message in reversed(messages):
            used += self.count(message.content)
            if used > room:
                break
            kept += 1
        return list(messages[len(messages) - kept:]) if kept else []

    def _summarize(self, session: Session, previous: Summary | None, folded: Sequence[StoredMessage]) -> Summary:
        """Fold `folded` into the summary, a chunk that fits the model's window at a time; each fold is stored."""
        prompt = prompts.load("summarize.txt")
        # the window holds the instruction, the summary so far and the reply (each at most summary_tokens)
        room = max(256, self.n_ctx - 2 * self.summary_tokens - self.count(prompt.text) - 2 * REPLY_OVERHEAD - 16)
        summary = previous
        for chunk in _chunks(folded, room, self.model.count_tokens):
            with tracing.span("memory.summarize", {
                    "nativa.memory.session": session.name, "nativa.memory.messages": len(chunk),
                    "nativa.memory.from_message_id": chunk[0].id, "nativa.memory.upto_message_id": chunk[-1].id,
                    "nativa.prompt.file": prompt.name, "nativa.prompt.hash": prompt.hash}) as span:
                text = self._fold(prompt, summary, chunk, room)
                tokens = self.model.count_tokens(text)
                span.set_attributes({"nativa.memory.summary_tokens": tokens})
                summary = self.memory.sessions.add_summary(session, chunk[-1].id, text, tokens)
        assert summary is not None
        return summary

    def _fold(self, prompt: prompts.PromptFile, previous: Summary | None, chunk: Sequence[StoredMessage],
              room: int) -> str:
        transcript = "\n".join(f"{m.role}: {_clip(m.content, room * 3)}" for m in chunk)
        before = f"\nThe summary so far:\n{previous.content}\n" if previous else ""
        text = (prompt.text.replace("{max_words}", str(max(20, int(self.summary_tokens * 0.7))))
                .replace("{previous}", before).replace("{transcript}", transcript))
        options = GenerationOptions(max_tokens=self.summary_tokens, temperature=0.0)
        reply = traced_complete(self.model, [Message("user", text)], options, prompt_file=prompt.name,
                                prompt_hash=prompt.hash).text.strip()
        return reply or (previous.content if previous else "")

    def _assemble(self, query: str, recalled: list[Recall], summary: Summary | None, recent: list[StoredMessage],
                  summarized: int, base: int) -> Context:
        """System prompt and summary first, then the recent turns, then the recalled memories with the new
        message: the part that changes every turn comes last, so the model's cache keeps the rest, and a
        small model reads the facts right before the question they answer."""
        system = self.system_prompt
        if summary is not None and summary.content:
            system += "\n\n" + prompts.load("summary.txt").text + "\n" + summary.content
        last = query
        if recalled:
            facts = "".join(f"- {r.item.text}\n" for r in recalled)
            last = f"{prompts.load('memories.txt').text}\n{facts}\n{query}"
        messages = [Message("system", system), *(Message(m.role, m.content) for m in recent), Message("user", last)]
        tokens = sum(self.count(m.content) for m in messages) + REPLY_OVERHEAD
        parts = {"system": self.count(self.system_prompt), "query": self.count(query),
                 "memories": self._block_tokens("memories.txt", [r.item.text for r in recalled]),
                 "summary": self._summary_cost(summary), "recent": sum(self.count(m.content) for m in recent)}
        if tokens > self.budget and recent:  # counting pieces apart can differ a little from the whole
            return self._assemble(query, recalled, summary, recent[1:], summarized, base)
        if tokens > self.budget and recalled:
            return self._assemble(query, recalled[:-1], summary, recent, summarized, base)
        return Context(messages, recalled, summary, recent, tokens, self.budget, summarized, parts)


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[:chars] + " …"


def _chunks(messages: Sequence[StoredMessage], room: int,
            count: Callable[[str], int]) -> list[list[StoredMessage]]:
    chunks: list[list[StoredMessage]] = [[]]
    used = 0
    for m in messages:
        cost = min(count(m.content), room) + MESSAGE_OVERHEAD
        if chunks[-1] and used + cost > room:
            chunks.append([])
            used = 0
        chunks[-1].append(m)
        used += cost
    return [c for c in chunks if c]


def build_context(session: Session, query: str, *, model: ChatModel, memory: Memory,
                  budget_tokens: int | None = None, **options: Any) -> Context:
    """The context for answering `query` in `session` (see `ContextBuilder` for the options)."""
    return ContextBuilder(memory, model, budget_tokens=budget_tokens, **options).build(session, query)
