"""What must not leave the machine: secrets and personal data in text, and work marked `local_only`.

It sits with the models (below the agents and the server, which both use it) because the one place that
can promise a remote model never receives such text is the wrapper around that model (`cascade.py`).
The detector favours recall on things with a recognisable shape (key prefixes, PEM headers, a password in
a URL, emails, phone numbers written with separators, card numbers that pass the Luhn check); a plain
number in a query result is not a phone number. Findings carry kinds and offsets, never the value, so
they can go on a span.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

_SECRETS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private_key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    ("url_password", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)),
    ("api_key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}")),
    ("api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    ("token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),  # a JWT
    ("token", re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{16,}")),
    ("password", re.compile(r"(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token)\b\s*[:=]\s*"
                            r"['\"]?[^\s'\"]{6,}")),
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# With separators or a leading +: "+44 20 7946 0958", "(555) 123-4567", "555-123-4567"; never a bare integer.
# A run of more digit groups (a card number failing its checksum) is not a phone number either.
_PHONE = re.compile(r"(?<![\w.])(?<!\d[\s.-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])"
                    r"\d{3,4}[\s.-]\d{3,4}(?![\w.]|[\s.-]\d)|(?<![\w.])\+\d{7,14}(?![\w.])")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")


@dataclass(frozen=True, slots=True)
class Found:
    """One sensitive span of a text: its kind and where it is (the value itself is never kept)."""

    kind: str
    start: int
    end: int


def luhn(digits: str) -> bool:
    """The card-number checksum: what tells a card number from any other long number."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def scan(text: str) -> list[Found]:
    """Every secret and piece of personal data in `text`, in order, overlaps dropped."""
    found: list[Found] = []
    for kind, pattern in _SECRETS:
        found += [Found(kind, m.start(), m.end()) for m in pattern.finditer(text)]
    found += [Found("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn(digits):
            found.append(Found("card_number", m.start(), m.end()))
    found += [Found("phone", m.start(), m.end()) for m in _PHONE.finditer(text)]
    kept: list[Found] = []
    for f in sorted(found, key=lambda f: (f.start, -f.end)):
        if kept and f.start < kept[-1].end:
            continue
        kept.append(f)
    return kept


def kinds(texts: Iterable[str]) -> list[str]:
    """The kinds found in any of `texts`, sorted: what a span may say about a decision."""
    return sorted({f.kind for t in texts for f in scan(t)})


def redact(text: str) -> str:
    """`text` with each finding replaced by `[redacted <kind>]`."""
    out, at = [], 0
    for f in scan(text):
        out.append(text[at:f.start])
        out.append(f"[redacted {f.kind}]")
        at = f.end
    out.append(text[at:])
    return "".join(out)


@dataclass(slots=True)
class LocalOnly:
    """Why the work in this scope must stay local (a request, a session or a tool result was marked so)."""

    reasons: list[str] = field(default_factory=list)

    def mark(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)


_scope: ContextVar[LocalOnly | None] = ContextVar("nativa_local_only", default=None)


@contextmanager
def privacy_scope(reason: str | None = None) -> Iterator[LocalOnly]:
    """A run's privacy scope: marks made in it (now, or later when a marked tool result arrives) keep every
    later model call of the run off remote stages. Nested scopes share the outer one's marks."""
    outer = _scope.get()
    scope = outer if outer is not None else LocalOnly()
    if reason:
        scope.mark(reason)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def local_only_reasons() -> list[str]:
    """Why the current work must stay local; empty when nothing marked it."""
    scope = _scope.get()
    return list(scope.reasons) if scope is not None else []


def mark_local_only(reason: str) -> None:
    """Mark the current run local-only from here on (a tool whose results must not leave returned some)."""
    scope = _scope.get()
    if scope is not None:
        scope.mark(reason)
