"""Turn a request into a validated `Intent`: rules first, then the model with schema-constrained output.

    parser = IntentParser(model=model)                       # model is optional
    intent = parser.parse("which region sold most in 2024?", IntentContext.from_tools(tools))

Order: the configurable rules (a raw SELECT, a fenced Python block, a URL, a greeting, a request too vague to
act on); then a rule built from the context (the request names tables or columns of the connected
database); then, if a model is given, the model picks a kind under a JSON schema that allows only the
kinds the context can serve, plus `chat` and `unclear`. A model answer below `min_confidence`, or
`unclear`, gives a clarifying question instead of a guess. Without a model, an unmatched request is
`tool` (any tool) at low confidence, and the agent decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from nativa.errors import NativaError
from nativa.intent.model import Intent
from nativa.intent.rules import CLARIFY, DEFAULT_RULES, Rule, keyword_hits
from nativa.models.base import ChatModel, GenerationOptions, Message
from nativa.models.traced import traced_complete
from nativa.prompts import load_prompt
from nativa.tools.base import Tool

_KIND_HELP = {"sql": "sql: a question answered from the database", "http": "http: read a web page or API",
              "code": "code: compute something or run Python", "tool": "tool: use one of the other tools"}
_TOOL_TO_INTENT = {"sql": "sql", "http": "http", "code": "code"}


@dataclass(slots=True)
class IntentContext:
    """What the request can be served with: tool kinds available and words that point at the database."""

    kinds: set[str] = field(default_factory=set)
    keywords: set[str] = field(default_factory=set)
    describe: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_tools(cls, tools: Iterable[Tool]) -> IntentContext:
        """The context the given tools can serve: their kinds, and the table and column names of a SQL tool,
        so a request that names them is routed to SQL without a model."""
        ctx = cls()
        for t in tools:
            kind = _TOOL_TO_INTENT.get(t.kind, "tool")
            ctx.kinds.add(kind)
            if t.kind == "sql":
                ctx.keywords |= t.keywords()
            ctx.describe.setdefault(kind, _KIND_HELP.get(kind, f"{kind}: {t.description}"))
        return ctx


class IntentParser:
    """Rules, then context keywords, then (optionally) the model; always returns a valid `Intent`."""

    def __init__(self, model: ChatModel | None = None, *, rules: Sequence[Rule] | None = None,
                 min_confidence: float = 0.5, max_tokens: int = 24) -> None:
        self.model = model
        self.rules = list(DEFAULT_RULES if rules is None else rules)
        self.min_confidence = min_confidence
        self.max_tokens = max_tokens

    def parse(self, text: str, context: IntentContext | None = None) -> Intent:
        """Rules first (free and deterministic), the model only when no rule decides; never guesses past
        `min_confidence`.
        """
        ctx = context or IntentContext()
        for rule in self.rules:
            intent = rule.match(text)
            if intent is not None and (intent.kind in ("chat", "unclear", "tool") or not ctx.kinds
                                       or intent.kind in ctx.kinds):
                return intent
        hits = keyword_hits(text, ctx.keywords) if "sql" in ctx.kinds else []
        if hits:
            return Intent(kind="sql", arguments={}, confidence=min(0.95, 0.6 + 0.1 * len(hits)), source="rule",
                          rule=f"schema words: {', '.join(hits[:5])}")
        if self.model is not None:
            return self._ask_model(text, ctx)
        return Intent(kind="tool", confidence=0.3, source="default")

    def _ask_model(self, text: str, ctx: IntentContext) -> Intent:
        kinds = sorted(ctx.kinds) + ["chat", "unclear"]
        schema = {"type": "object", "properties": {"kind": {"enum": kinds},
                                                   "confidence": {"type": "number", "minimum": 0, "maximum": 1}},
                  "required": ["kind", "confidence"], "additionalProperties": False}
        prompt = load_prompt("intent_system")
        lines = "\n".join(f"- {ctx.describe.get(k, _KIND_HELP.get(k, k))}" for k in sorted(ctx.kinds))
        messages = [Message("system", prompt.render(kinds=lines)), Message("user", text)]
        options = GenerationOptions(max_tokens=self.max_tokens, temperature=0.0, json_schema=schema)
        assert self.model is not None
        try:
            completion = traced_complete(self.model, messages, options, prompt_file=prompt.file,
                                         prompt_hash=prompt.hash, attributes={"nativa.step": "intent"})
            data = completion.json()
            kind, confidence = data["kind"], float(data["confidence"])
        except (NativaError, KeyError, TypeError, ValueError):
            return Intent(kind="tool", confidence=0.3, source="default")
        if kind == "unclear" or confidence < self.min_confidence:
            return Intent(kind="unclear", confidence=confidence, source="model", question=self._question(ctx))
        try:
            return Intent(kind=kind, confidence=confidence, source="model")
        except ValidationError:
            return Intent(kind="tool", confidence=0.3, source="default")

    @staticmethod
    def _question(ctx: IntentContext) -> str:
        offers = [d.split(": ", 1)[1] for k, d in sorted(ctx.describe.items()) if ": " in d]
        if not offers:
            return CLARIFY
        return f"Could you say more about what you need? I can: {'; '.join(offers)}."
