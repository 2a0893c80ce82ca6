"""What a review says: findings with a risk and a line, gathered into one verdict per piece of code or call.

These are the typed results every part of review shares (the policy produces them, approvals key on them,
the audit log stores them), so they live apart from any of those parts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Risk = Literal["low", "medium", "high"]
RISKS: tuple[Risk, ...] = get_args(Risk)
_RANK: dict[str, int] = {"none": 0, "low": 1, "medium": 2, "high": 3}
MaxRisk = Literal["none", "low", "medium", "high"]


def risk_rank(risk: str) -> int:
    """Order of risks, so `medium` and up can be compared without string tricks; `none` is below all."""
    return _RANK[risk]


def code_hash(text: str) -> str:
    """The hash that names a piece of code in the audit log and in spans (`sha256:<hex>`)."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the policy saw: which rule, how risky, on which line, and in words a reviewer can act on.

    `target` is what the action touches when the code shows it (a host, a path, a table, a module), so
    approvals can key on "network to api.example.com" rather than on the code's text; `None` when unknown.
    """

    rule: str
    risk: Risk
    line: int
    message: str
    target: str | None = None
    col: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape the audit log, pending reviews and spans store (the column stays out: reviewers
        work by line)."""
        return {"rule": self.rule, "risk": self.risk, "line": self.line, "message": self.message,
                "target": self.target}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """A finding back from a stored `to_dict` (the audit log, a paused run): the review of a resumed run
        is the one that paused it."""
        return cls(rule=str(data["rule"]), risk=data["risk"], line=int(data.get("line", 0)),
                   message=str(data.get("message", "")), target=data.get("target"))


@dataclass(frozen=True, slots=True)
class Verdict:
    """The policy's answer for one piece of code or one tool call: every finding, sorted by line."""

    subject: str  # "code" | "tool:<name>"
    findings: tuple[Finding, ...] = ()
    code_hash: str = ""
    duration_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def max_risk(self) -> MaxRisk:
        """The highest risk among the findings; `none` when there are none."""
        return max((f.risk for f in self.findings), key=risk_rank, default="none")

    def at_least(self, risk: str) -> tuple[Finding, ...]:
        """Findings at `risk` or above (e.g. what `--review risky` asks a person about)."""
        floor = risk_rank(risk)
        return tuple(f for f in self.findings if risk_rank(f.risk) >= floor)

    def to_dict(self) -> dict[str, Any]:
        """The `nativa review check --json` shape: `{findings: [{rule, risk, line, message}], max_risk}`."""
        return {"findings": [f.to_dict() for f in self.findings], "max_risk": self.max_risk,
                "subject": self.subject, "code_hash": self.code_hash}


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Line order, then the riskiest first, with exact repeats (same rule, line and target) dropped."""
    seen: set[tuple[str, int, str | None, str]] = set()
    unique: list[Finding] = []
    for f in findings:
        key = (f.rule, f.line, f.target, f.message)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return tuple(sorted(unique, key=lambda f: (f.line, -risk_rank(f.risk), f.rule, f.col)))
