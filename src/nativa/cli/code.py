"""`nativa code`: the self-correcting agent from the terminal, showing each attempt as it happens."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.syntax import Syntax

from nativa.cli._common import err, out, print_json, settings
from nativa.cli.models import MODEL_HELP
from nativa.cli.review import REVIEW_HELP

_SYMBOL = {"passed": "[green]passed[/]", "failed": "[red]failed[/]", "no_code": "[yellow]no code[/]"}


def code(
    task: str | None = typer.Argument(None, help="What the code should do (optional with --fix)."),
    tests: Path | None = typer.Option(None, "--tests", help="A Python file of asserts or test_* functions."),
    fix: Path | None = typer.Option(None, "--fix", help="A Python file to repair instead of writing new code."),
    max_attempts: int = typer.Option(3, "--max-attempts", min=1, max=20, help="Model attempts at most."),
    candidates: int = typer.Option(4, "--candidates", min=1, max=16,
                                   help="Candidates each attempt after the first draws; the evidence picks one."),
    model: str | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    max_tokens: int | None = typer.Option(None, "--max-tokens", min=16, help="Tokens per model reply."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds each sandboxed run may take."),
    json_out: bool = typer.Option(False, "--json", help="Print the AgentResult as JSON."),
    session: str | None = typer.Option(None, "--session", help="Keep this run in a session and show the agent "
                                       "what the session already holds (created if new)."),
    review: str | None = typer.Option(None, "--review", help=REVIEW_HELP),
    small_attempts: int | None = typer.Option(None, "--small-attempts", min=1, max=20,
                                              help="With a cascade model: attempts of its first stage before "
                                              "the next takes over (default: cascade_small_attempts, 1)."),
    local_only: bool = typer.Option(False, "--local-only", help="Keep this run off remote models (a cascade's "
                                    "openai: stages)."),
) -> None:
    """Write (or --fix) Python with a model, run it in the sandbox, and repair it until it works."""
    from nativa.agent import CodeAgent
    from nativa.cli._runtime import (
        marked_local_only,
        open_agent_session,
        open_model,
        open_sandbox,
        read_text_file,
        review_gate,
    )
    from nativa.errors import BadInputError
    from nativa.review.approvals import check_mode

    if fix is None and not (task and task.strip()):
        raise BadInputError("give a TASK (what the code should do) or --fix FILE (code to repair)")
    test_code = read_text_file(tests, "--tests file") if tests else None
    fix_code = read_text_file(fix, "--fix file") if fix else None
    if review is not None:
        check_mode(review)  # a bad --review is refused before the model loads
    cfg = settings()
    chat_model = open_model(model, cfg)
    sandbox = open_sandbox(cfg)
    recorder = open_agent_session(cfg, session, chat_model) if session else None
    history = recorder.history() if recorder is not None else None
    local_only = local_only or marked_local_only(recorder)
    # The code agent's sandbox grants nothing (no network, no host files), so review is off unless asked.
    with review_gate(cfg, review, granted=False, session=session) as gate:
        agent = CodeAgent(chat_model, sandbox, max_attempts=max_attempts, candidates=candidates,
                          max_tokens=max_tokens or cfg.max_tokens,
                          temperature=cfg.temperature, timeout_s=timeout, settings=cfg,
                          on_event=None if json_out else _Progress(), review=gate, small_attempts=small_attempts)
        if fix_code is not None:
            result = agent.fix(fix_code, task=task, tests=test_code, context=history, local_only=local_only)
        else:
            result = agent.solve(task or "", test_code, context=history, local_only=local_only)
    if recorder is not None:
        recorder.record("code", task or f"repair {fix}", result.to_dict())
    if json_out:
        print_json(result.to_dict())
    else:
        if result.success:
            color = "yellow" if result.verified_by == "ran_only" else "green"
            verdict = f"[bold {color}]solved[/]"
        else:
            verdict = f"[bold red]not solved[/] ({result.stop_reason})"
        err.print(f"{verdict} after {len(result.attempts)} attempt(s), {result.output_tokens} tokens, "
                  f"{result.wall_s:.1f} s" + (f", trace {result.trace_id}" if result.trace_id else ""))
        if result.stop_message:
            err.print(f"[bold red]review:[/] {escape(result.stop_message)}")
        for e in result.escalations:
            err.print(f"[yellow]escalated[/] {escape(e.from_stage)} -> {escape(e.to)}: {escape(e.detail or e.reason)}")
        if result.escalations or len(result.cost.stages if result.cost else []) > 1:
            err.print(f"[dim]answered by {escape(result.answered_by or '-')}; {describe_cost(result.cost)}[/]")
        if result.verification:
            color = "green" if result.success and result.verified_by != "ran_only" else "yellow"
            err.print(f"[{color}]verified by {escape(_EVIDENCE.get(result.verified_by or '', '-'))}: "
                      f"{escape(result.verification)}[/]")
        if result.code:
            out.print(Syntax(result.code, "python", theme="ansi_dark", background_color="default"))
        if result.stdout.strip():
            err.print("[bold]output:[/]")
            out.print(escape(result.stdout.rstrip()))
    if not result.success:
        raise typer.Exit(1)


_DIFF_LINES = 6


_EVIDENCE = {"user_tests": "your tests", "task_examples": "the task's examples",
             "generated_tests": "checks the model wrote first", "ran_only": "nothing"}


class _Progress:
    """Live progress for one run: what each attempt is doing, what failed, and what the model changed."""

    def __init__(self) -> None:
        self.previous: str | None = None
        self.models: list[str] = []  # the models seen so far: a cascade's later stage is named when it starts

    def __call__(self, kind: str, attempt: object) -> None:
        from nativa.agent import Attempt

        assert isinstance(attempt, Attempt)
        if kind == "attempt_start":
            label = {"given": "running the given code", "generate": "writing code", "repair": "repairing",
                     "regenerate": "starting over with a new approach"}[attempt.strategy]
            if attempt.model and attempt.model not in self.models:
                if self.models:
                    err.print(f"[bold yellow]escalating to {escape(attempt.model)}[/]")
                self.models.append(attempt.model)
            err.print(f"[bold]attempt {attempt.number}[/]: {label}...")
        elif kind == "model_done" and attempt.strategy != "given":
            many = attempt.drafts
            drawn = f"{many} candidates, " if many > 1 else ""
            err.print(f"  model: {drawn}{attempt.output_tokens} tokens in {attempt.model_s:.1f} s")
        elif kind == "run_done":
            self._run_done(attempt)

    def _run_done(self, attempt: Any) -> None:
        if attempt.wrote_tests:
            err.print("  checks the model wrote for the task (they may be wrong, so they rank, not veto):")
            for line in attempt.wrote_tests.strip().splitlines():
                err.print(f"    [dim]{escape(line)}[/]")
        many = len(attempt.candidates)
        if attempt.strategy != "given" and attempt.code is not None:
            lines = len(attempt.code.splitlines())
            err.print(f"  code: {lines} lines" + (" (the best of this attempt's candidates)" if many > 1 else ""))
            if self.previous is not None:
                for line in describe_change(self.previous, attempt.code):
                    err.print(f"  [dim]{escape(line)}[/]")
        refused = [c for c in attempt.candidates if c.outcome == "rejected"]
        for candidate in refused:
            review = candidate.review
            err.print(f"  review: [red]not run[/] ({escape(review.status if review else 'rejected')}): "
                      f"{escape((candidate.error_message or '')[:200])}")
        if attempt.outcome == "rejected":
            return
        line = f"  sandbox: {_SYMBOL.get(attempt.outcome, attempt.outcome)} in {attempt.sandbox_s:.2f} s"
        if many > 1:
            line += f" ({sum(c.outcome == 'passed' for c in attempt.candidates)} of {many} candidates passed)"
        if attempt.outcome != "passed" and (attempt.error_type or attempt.error_message):
            first = (attempt.error_message or "").strip().splitlines()
            line += f" - {escape(str(attempt.error_type))}: {escape(first[0][:160]) if first else ''}"
        err.print(line)
        if attempt.code is not None:
            self.previous = attempt.code


def describe_cost(cost: Any) -> str:
    """The cost per stage in one line: `small 812 tokens 3.1 s, large 0 tokens`."""
    if cost is None:
        return "cost unknown"
    return ", ".join(f"{s.model} {s.input_tokens + s.output_tokens} tokens {s.model_s:.1f} s"
                     for s in cost.stages)


def describe_change(before: str, after: str, limit: int = _DIFF_LINES) -> list[str]:
    """The change since the last attempt as a few diff lines, so a user watching sees what the repair did."""
    a, b = before.splitlines(), after.splitlines()
    changed = [d for d in difflib.unified_diff(a, b, lineterm="", n=0)
               if d[:1] in "+-" and not d.startswith(("+++", "---"))]
    if not changed:
        return ["change: none (the same code again)"]
    added = sum(1 for d in changed if d.startswith("+"))
    head = [f"change: +{added} -{len(changed) - added} lines"]
    shown = [d[:100] for d in changed[:limit]]
    more = [f"... {len(changed) - limit} more changed lines"] if len(changed) > limit else []
    return head + shown + more
