"""Review before run: a static policy reads model-written code and tool calls, and a person approves what
it flags.

    from nativa.review import Policy, ReviewContext
    verdict = Policy.load().check_code("import socket\n")
    verdict.max_risk                    # "high"
    verdict.findings[0].rule            # "network"
"""

from __future__ import annotations

from nativa.review.context import ReviewContext
from nativa.review.findings import RISKS, Finding, Risk, Verdict, code_hash, risk_rank
from nativa.review.policy import Policy

__all__ = ["RISKS", "Finding", "Policy", "ReviewContext", "Risk", "Verdict", "code_hash", "risk_rank"]
