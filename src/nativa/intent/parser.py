"""Turn a request into a validated `Intent`: rules first, then the model with schema-constrained output.

    parser = IntentParser(model=model)                       # model is optional
    intent = parser.parse("which region sold most in 2024?", IntentContext.from_tools(tools))

Order: the configurable rules (a raw SELECT, a fenced Python block, a URL, a greeting, a request too vague to
act on); then a rule built from the context (the request names tables or columns of the connected
database); then, if a model is given, the model picks a kind under a JSON schema that allows only the
kinds the context can serve, plus `chat` and `unclear`. Its confidence is the probability its own tokens
gave the pick (their logprobs; a number the model wrote about itself would be one more guess). A pick
below `min_confidence`, or `unclear`, gives a clarifying question instead of a guess. Without a model, an
unmatched request is `tool` (any tool) at low confidence, and the agent decides.

On a cascade the first stage picks; while a stage's pick is under `escalate_below` (calibrated by `nativa
bench intent --calibrate`) or unusable, the next stage that may see the request picks instead, and the
intent and the span say which stage answered and why it was handed on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from nativa.config import Settings
from nativa.errors import BadInputError, NativaError
from nativa.intent.model import Intent
from nativa.intent.rules import CLARIFY, DEFAULT_RULES, Rule, keyword_hits
from nativa.models.base import ChatModel, Completion, GenerationOptions, Message, TokenLogprob
from nativa.models.cascade import CascadeModel
from nativa.models.traced import traced_complete
from nativa.prompts import load_prompt
from nativa.tools.base import Tool
from nativa.tracing import span

# A cascade hands an intent to its next stage when the pick's own probability is under this; calibrated by
# `nativa bench intent --calibrate` (docs/benchmarks.md, "Intent cascade"); one value, the setting's default.
DEFAULT_ESCALATE_BELOW: float = Settings.model_fields["cascade_intent_threshold"].default
# The confidence of a pick from a model that gives no logprobs: unknown, so neither sure nor doubtful.
UNKNOWN_CONFIDENCE = 0.5

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


@dataclass(frozen=True, slots=True)
class _Pick:
    """One model's answer: the kind (None when its reply was unusable) and its probability (None: unknown)."""

    kind: str | None
    probability: float | None


def value_probability(completion: Completion, value: str, choices: Sequence[str] = ()) -> float | None:
    """The probability the model gave `value`, the first JSON string value equal to it in the completion.

    Only the tokens that spell the value count (the quotes and keys around it are the grammar's, not the
    model's choice). With `choices` (the values the schema allowed), each such token's probability is
    renormalised over the step's alternatives that still lead to an allowed value, which is what the model
    chose among under the grammar; without them, it is the raw product. None when the completion carries no
    logprobs or the value cannot be found."""
    if not completion.logprobs:
        return None
    text = "".join(t.text for t in completion.logprobs)
    found = re.search(r':\s*"(' + re.escape(value) + r')"', text)
    if found is None:
        return None
    lo, hi = found.span(1)
    total, pos = 0.0, 0
    for token in completion.logprobs:
        start, end = pos, pos + len(token.text)
        pos = end
        if end <= lo or start >= hi:
            continue
        total += token.logprob
        if choices:
            total -= _allowed_mass(token, text[start:lo], text[lo:max(start, lo)], choices)
    return math.exp(total)


def _allowed_mass(token: TokenLogprob, prefix: str, written: str, choices: Sequence[str]) -> float:
    """log of the probability mass, at this token's step, of the alternatives that keep the value on its way
    to one of `choices` (`prefix`: the token's text before the value starts; `written`: the value so far).

    Where the token opens the value, the JSON around it may be spelt with other spaces (` "code` and
    `"code` both open a value), and an alternative that is only structure (`"`, a space) commits to no value,
    so it counts on neither side. Two alternatives with the same text (two token ids) both count."""
    structure = re.sub(r"\s+", "", prefix)

    def leads(alternative: str) -> bool | None:
        """True: on the way to an allowed value; False: not; None: structure only, no choice made yet."""
        if prefix:
            spelt = re.sub(r"\s+", "", alternative)
            if structure.startswith(spelt):
                return None
            if not spelt.startswith(structure):
                return False
            so_far = spelt[len(structure):]
        else:
            so_far = written + alternative
        return any(c.startswith(so_far) or so_far.startswith(c + '"') for c in choices)

    alternatives = list(token.top)
    if not any(alt == token.text and math.isclose(lp, token.logprob) for alt, lp in alternatives):
        alternatives.append((token.text, token.logprob))
    mass = [lp for alt, lp in alternatives if leads(alt)]
    if not mass:
        return token.logprob
    top = max(mass)
    return top + math.log(sum(math.exp(lp - top) for lp in mass))


def _doubt(pick: _Pick, below: float) -> tuple[str, str] | None:
    """Why a cascade's stage should hand the request on, as (reason, detail); None when the pick is sure
    enough, or its probability is unknown (a model without logprobs gives no evidence either way)."""
    if pick.kind is None:
        return "no_answer", "no usable answer"
    if pick.probability is not None and pick.probability < below:
        return "low_confidence", f"p({pick.kind})={pick.probability:.2f} < {below:.2f}"
    return None


class IntentParser:
    """Rules, then context keywords, then (optionally) the model; always returns a valid `Intent`."""

    def __init__(self, model: ChatModel | None = None, *, rules: Sequence[Rule] | None = None,
                 min_confidence: float = 0.5, max_tokens: int = 16,
                 escalate_below: float = DEFAULT_ESCALATE_BELOW) -> None:
        if not 0.0 <= escalate_below <= 1.0:
            raise BadInputError(f"escalate_below must be between 0 and 1, got {escalate_below}")
        self.model = model
        self.rules = list(DEFAULT_RULES if rules is None else rules)
        self.min_confidence = min_confidence
        self.max_tokens = max_tokens
        self.escalate_below = escalate_below

    @classmethod
    def from_settings(cls, model: ChatModel | None, settings: Settings) -> IntentParser:
        """The parser a run uses: the settings' escalation threshold for a cascade's intent."""
        return cls(model, escalate_below=settings.cascade_intent_threshold)

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
        """The first stage's pick; on a cascade, the next stage's while the pick's own probability is under
        `escalate_below` (a stage that may not see the request is passed over, and the reason kept). When a
        later stage gives no usable answer, the last usable pick of an earlier one stands."""
        assert self.model is not None
        chain = self.model if isinstance(self.model, CascadeModel) else None
        if chain is None:
            return self._verdict(self._pick(self.model, text, ctx), ctx)
        reasons: list[str] = []
        details: list[str] = []
        privacy: list[str] = []
        i, usable = 0, None
        with span("intent cascade") as scope:
            while True:
                pick = self._pick(chain.stage(i), text, ctx)
                if pick.kind is not None:
                    usable = (i, pick)
                doubt = _doubt(pick, self.escalate_below)
                if doubt is None:
                    break
                nxt, skipped = chain.next_stage(i, [text])
                privacy += skipped
                details += skipped
                if nxt is None:
                    if pick.kind is None and usable is not None:
                        details.append(f"{chain.stages[i]}: {doubt[1]}; {chain.stages[usable[0]]}'s pick stands")
                        i, pick = usable
                    break
                reasons.append(doubt[0])
                details.append(f"{chain.stages[i]}: {doubt[1]}")
                i = nxt
            chain.note_answer(i)
            chain.record(scope, i, reasons, privacy, escalated=i > 0)
        intent = self._verdict(pick, ctx)
        return intent.model_copy(update={"stage": chain.stages[i], "escalated": i > 0,
                                         "escalation": "; ".join(details) or None})

    def _pick(self, model: ChatModel, text: str, ctx: IntentContext) -> _Pick:
        """One model's choice of kind under a schema that allows only what the context can serve, with the
        probability the model gave its own choice (from its token logprobs; None when it cannot say)."""
        kinds = sorted(ctx.kinds) + ["chat", "unclear"]
        schema = {"type": "object", "properties": {"kind": {"enum": kinds}}, "required": ["kind"],
                  "additionalProperties": False}
        prompt = load_prompt("intent_system")
        lines = "\n".join(f"- {ctx.describe.get(k, _KIND_HELP.get(k, k))}" for k in sorted(ctx.kinds))
        messages = [Message("system", prompt.render(kinds=lines)), Message("user", text)]
        options = GenerationOptions(max_tokens=self.max_tokens, temperature=0.0, json_schema=schema, logprobs=True)
        try:
            completion = traced_complete(model, messages, options, prompt_file=prompt.file,
                                         prompt_hash=prompt.hash, attributes={"nativa.step": "intent"})
            kind = completion.json()["kind"]
        except (NativaError, KeyError, TypeError, ValueError):
            return _Pick(None, None)
        if not isinstance(kind, str) or kind not in kinds:
            return _Pick(None, None)
        return _Pick(kind, value_probability(completion, kind, kinds))

    def _verdict(self, pick: _Pick, ctx: IntentContext) -> Intent:
        """The intent a pick gives: a clarifying question when the model says unclear or doubts its pick
        past `min_confidence`; the default when it gave no usable answer."""
        if pick.kind is None:
            return Intent(kind="tool", confidence=0.3, source="default")
        confidence = UNKNOWN_CONFIDENCE if pick.probability is None else pick.probability
        if pick.kind == "unclear" or confidence < self.min_confidence:
            return Intent(kind="unclear", confidence=confidence, source="model", question=self._question(ctx),
                          probability=pick.probability)
        try:
            return Intent(kind=pick.kind, confidence=confidence, source="model",  # type: ignore[arg-type]
                          probability=pick.probability)
        except ValidationError:
            return Intent(kind="tool", confidence=0.3, source="default")

    @staticmethod
    def _question(ctx: IntentContext) -> str:
        offers = [d.split(": ", 1)[1] for k, d in sorted(ctx.describe.items()) if ": " in d]
        if not offers:
            return CLARIFY
        return f"Could you say more about what you need? I can: {'; '.join(offers)}."
