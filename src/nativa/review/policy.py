"""The review policy: a deterministic static pass over model-written code and tool calls, before either runs.

No model stands between a rule and its veto, and nothing is executed: the code is parsed (`ast`), SQL is
parsed by the SQL tool's own parser (sqlglot), URLs are matched against the user's allow-list. Rules are
data (`rules.toml`, overridable by a team's file), and every verdict is a typed `Verdict` recorded on a
`review code` / `review tool <name>` span.

    policy = Policy.load()                        # the shipped default, or Policy.load(Path("team.toml"))
    verdict = policy.check_code(code, ReviewContext(allow_hosts=("api.example.com",)))
    verdict.max_risk, [(f.rule, f.risk, f.line, f.message) for f in verdict.findings]
    policy.check_tool_call("sql", {"query": "DELETE FROM orders"})   # sql-write, high, target "orders"
"""

from __future__ import annotations

import ast
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nativa import tracing
from nativa.review._code import CodeAnalyzer
from nativa.review._config import RULE_FIELDS, PolicyConfig, RuleConfig, load_config
from nativa.review._toolcalls import tool_call_findings
from nativa.review.context import ReviewContext
from nativa.review.findings import Finding, Verdict, code_hash, sort_findings

_DEFAULT_CONTEXT = ReviewContext()


class Policy:
    """A loaded, validated policy; cheap to call, safe to share between threads (its only state is a cache)."""

    def __init__(self, config: PolicyConfig, source: str = "default") -> None:
        self.config = config
        self.source = source
        self._claims: dict[str, str | None] = {}  # which rule claims a dotted name: fixed for this policy

    @classmethod
    def load(cls, path: Path | None = None) -> Policy:
        """The shipped default, or `path` (TOML or JSON) over it; `PolicyError` names a bad key or value."""
        return cls(load_config(path), str(path) if path is not None else "default")

    @property
    def rules(self) -> dict[str, RuleConfig]:
        """Every rule by id, as this policy has it (after a team file's overrides)."""
        return {rule_id: self.config.rules.by_id(rule_id) for rule_id in RULE_FIELDS}

    def check_code(self, code: str, context: ReviewContext | None = None) -> Verdict:
        """Findings for `code` (Python source), recorded on a `review code` span."""
        digest = code_hash(code)
        with tracing.review_span("code", code_hash=digest) as span:
            start = time.perf_counter()
            findings = self._code_findings(code, context or _DEFAULT_CONTEXT)
            verdict = Verdict("code", sort_findings(findings), digest, time.perf_counter() - start)
            span.set_verdict(verdict)
        return verdict

    def check_tool_call(self, tool: str, arguments: Mapping[str, Any],
                        context: ReviewContext | None = None) -> Verdict:
        """Findings for one tool call (`sql`, `http`, `python`, or any other tool), on a `review tool` span."""
        chosen = context or _DEFAULT_CONTEXT
        digest = code_hash(f"{tool}\n{sorted((str(k), str(v)) for k, v in arguments.items())}")
        with tracing.review_span(f"tool {tool}", code_hash=digest) as span:
            start = time.perf_counter()
            findings = tool_call_findings(self.config.rules, tool, arguments, chosen,
                                          lambda code: self._code_findings(code, chosen))
            verdict = Verdict(f"tool:{tool}", sort_findings(findings), digest, time.perf_counter() - start)
            span.set_verdict(verdict)
        return verdict

    def _code_findings(self, code: str, context: ReviewContext) -> list[Finding]:
        rules = self.config.rules
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            return self._one("syntax-error", exc.lineno or 0, f"the code does not parse: {exc.msg}")
        except ValueError as exc:  # null bytes in the source
            return self._one("syntax-error", 0, f"the code does not parse: {exc}")
        except (RecursionError, MemoryError):
            return self._one("unreadable", 0, "the code is nested too deeply to parse: read it by hand")
        try:
            return CodeAnalyzer(rules, context.host_allowed, claims=self._claims).analyze(tree)
        except RecursionError:
            return self._one("unreadable", 0, "the code is nested too deeply to analyse: read it by hand")

    def _one(self, rule_id: str, line: int, message: str) -> list[Finding]:
        rule = self.config.rules.by_id(rule_id)
        return [Finding(rule_id, rule.risk, line, message)] if rule.enabled else []
