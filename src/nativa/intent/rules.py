"""Rules: patterns that recognise a request without a model. Where a simple rule suffices, it beats a model:
it is instant, free and always gives the same answer.

Rules are data (`Rule`), tried in order; the defaults below can be replaced or extended, or loaded from a
JSON file (`load_rules`): `[{"name": ..., "pattern": ..., "kind": ..., "confidence": 0.9}]`. Named groups in
a pattern become the intent's arguments (`(?P<url>https?://\\S+)` gives `{"url": ...}`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nativa.errors import BadInputError
from nativa.intent.model import Intent, IntentKind

CLARIFY = ("Could you say more about what you need? For example, ask a question about the data, give a URL "
           "to read, or describe the code to run.")


class Rule(BaseModel):
    """A case-insensitive regular expression that, when it matches, decides the intent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    pattern: str
    kind: IntentKind
    confidence: float = Field(0.9, ge=0.0, le=1.0)
    direct: bool = False
    question: str | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"pattern {value!r} is not a valid regular expression: {exc}") from None
        return value

    @cached_property
    def regex(self) -> re.Pattern[str]:
        """The pattern compiled once per rule (case-insensitive), not on every request."""
        return re.compile(self.pattern, re.IGNORECASE)

    def match(self, text: str) -> Intent | None:
        """The intent this rule decides for `text` (named groups as arguments), or None: try the next rule."""
        found = self.regex.search(text)
        if found is None:
            return None
        args = {k: v.strip() for k, v in found.groupdict().items() if v}
        question = self.question or (CLARIFY if self.kind == "unclear" else None)
        return Intent(kind=self.kind, arguments=args, confidence=self.confidence, source="rule", rule=self.name,
                      direct=self.direct, question=question)


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(name="sql_statement", kind="sql", confidence=1.0, direct=True,
         pattern=r"^\s*(?P<query>(?:select|with)\s[\s\S]*\bfrom\b[\s\S]*?[^?\s;])[\s;]*$"),
    Rule(name="python_block", kind="code", confidence=0.95, direct=True,
         pattern=r"```(?:python|py)[ \t]*\n(?P<code>[\s\S]*?)```"),
    Rule(name="url", kind="http", confidence=0.9, pattern=r"(?P<url>https?://[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]])"),
    Rule(name="greeting", kind="chat", confidence=0.95,
         pattern=r"^\s*(hi|hello|hey|thanks|thank you|good (morning|afternoon|evening))\b[\s!.,?]*(there)?[\s!.?]*$"),
    Rule(name="too_vague", kind="unclear", confidence=0.95,
         pattern=r"^\s*((please\s+)?(help|do it|fix it|go|continue|this|that|it|stuff|anything|something|"
                 r"what|why|how|ok|okay|yes|no)(\s+(me|please|now))?)?\s*[.!?]*\s*$"),
)


def load_rules(path: Path) -> list[Rule]:
    """Rules from a JSON file: a list of objects with name, pattern, kind, and optional confidence, direct and
    question."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInputError(f"cannot read intent rules {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise BadInputError(f"intent rules {path} are not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, list):
        raise BadInputError(f"intent rules {path} must be a JSON list of rule objects, got {type(data).__name__}")
    rules = []
    for i, item in enumerate(data):
        try:
            rules.append(Rule.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'rule'}: {e['msg']}" for e in exc.errors())
            raise BadInputError(f"intent rule {i} in {path} is invalid: {problems}") from None
    return rules


_WORD = re.compile(r"[a-z][a-z0-9_]+")
# Column names that are also everyday words: alone they do not make a request a database question.
GENERIC_WORDS = frozenset({"id", "name", "names", "total", "date", "type", "value", "count", "status", "time",
                           "data", "code", "number", "amount", "text", "title", "description", "key", "url"})


def keyword_hits(text: str, keywords: Iterable[str]) -> list[str]:
    """Words of `text` (singular or plural) that are in `keywords`, minus everyday words."""
    vocab = {k.lower() for k in keywords} - GENERIC_WORDS
    hits = []
    for word in _WORD.findall(text.lower()):
        forms = {word, word.removesuffix("s"), word.removesuffix("es"), word + "s"}
        if forms & vocab:
            hits.append(word)
    return list(dict.fromkeys(hits))
