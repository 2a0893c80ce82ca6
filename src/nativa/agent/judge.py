"""What an attempt's candidates amount to: rank all seen so far, keep the best, record each candidate.

The evidence (verify.py) says how each candidate did; this turns that into the attempt's record: its
outcome and observation (what the model reads next), the candidates best first, and the result's kept code.
A candidate the review refused never ran: when nothing of the attempt ran, the reviewer's reason is the
observation; otherwise it is added to the failure's.
"""

from __future__ import annotations

from nativa.agent import verify
from nativa.agent.checkpoint import Drawn
from nativa.agent.harness import Suite
from nativa.agent.result import AgentResult, Attempt, Candidate
from nativa.agent.review_gate import refusal

NO_CODE = "Your reply contained no Python code. Reply with the complete code in one ```python block."


def judge(attempt: Attempt, drawn: list[Drawn], pool: list[verify.Evaluation], suite: Suite,
      result: AgentResult) -> verify.Verdict:
    """Rank everything seen so far, keep the best, and record this attempt's candidates."""
    order = verify.rank(pool, suite) if pool else []
    scores = verify.scores(pool) if pool else []
    kept = pool[order[0]] if order else None
    judged = verify.verdict(kept, pool, suite) if kept else verify.Verdict(False, "ran_only", "no code", {})
    index = {id(ev): i for i, ev in enumerate(pool)}

    def place(d: Drawn) -> tuple[int, int]:  # what ran, best first; then what review refused; then no code
        if d.evaluation is not None:
            return (0, order.index(index[id(d.evaluation)]))
        return (1 if d.code is not None else 2, 0)

    mine = sorted(drawn, key=place)
    for d in mine:
        attempt.candidates.append(_candidate(d, suite, pool, scores[index[id(d.evaluation)]]
                                             if d.evaluation else 0))
    best = mine[0]
    attempt.code = best.code
    attempt.kept_code = kept.code if kept else None
    refused = [d.review for d in mine if d.evaluation is None and d.review is not None and not d.review.approved]
    if best.evaluation is None and refused:  # nothing ran: the reviewer's reason is the observation
        attempt.outcome, attempt.error_type = "rejected", "ReviewRejected"
        attempt.error_message = attempt.observation = refusal(refused[0])
    elif best.evaluation is None:
        attempt.outcome, attempt.observation = "no_code", NO_CODE
    else:
        own = verify.verdict(best.evaluation, pool, suite)
        ev = best.evaluation
        attempt.outcome = "passed" if own.passed else "failed"
        attempt.killed_by = ev.run.killed_by
        attempt.stdout = ev.stdout
        attempt.failed_checks = verify.required_failures(ev, suite)
        attempt.sandbox_s = sum(d.evaluation.run.duration_s for d in drawn if d.evaluation)
        if not own.passed:
            attempt.error_type, attempt.error_message = verify.error_of(ev, suite)
            attempt.observation = verify.observe(ev, suite)
            if refused:  # so the next try does not go the way the reviewer refused either
                attempt.observation += f"\nAnother candidate was not run: {refusal(refused[0])}"
    result.code = kept.code if kept else result.code
    result.stdout = kept.stdout if kept else result.stdout
    result.verified_by, result.verification = judged.verified_by, judged.summary
    return judged


def _candidate(d: Drawn, suite: Suite, pool: list[verify.Evaluation], score: int) -> Candidate:
    ev = d.evaluation
    if ev is None and d.code is not None and d.review is not None:
        return Candidate(code=d.code, outcome="rejected", output_tokens=d.completion.output_tokens,
                         error_type="ReviewRejected", error_message=refusal(d.review), review=d.review)
    if ev is None:
        return Candidate(code=None, outcome="no_code", output_tokens=d.completion.output_tokens)
    tests = ev.report.tests if ev.report else []
    own = verify.verdict(ev, pool, suite)
    error_type, error_message = (None, None) if own.passed else verify.error_of(ev, suite)
    return Candidate(code=ev.code, outcome="passed" if own.passed else "failed",
                     passed_tests=sum(t.ok for t in tests), failed_tests=sum(not t.ok for t in tests),
                     score=score, error_type=error_type, error_message=error_message,
                     output_tokens=d.completion.output_tokens, review=d.review)
