"""`nativa review check | ask | log` and `nativa bench review`: review before run, from the command line.

`check` is the static pass alone and composes in CI: exit 0 when nothing is above low, 1 when a finding
is at medium or high, 2 for bad input. `ask` is the whole review as the agent will run it: policy, then a
person at this terminal for what the mode asks about, then the audit log. `log` lists and verifies that log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from nativa.cli._common import err, out, print_json, read_json_file, read_source, settings
from nativa.errors import BadInputError

review_app = typer.Typer(help="Review model-written code and tool calls before they run.", no_args_is_help=True)
REVIEW_HELP = ("never: run what the model writes unasked; risky: ask you first about code or calls with a "
               "finding at medium or high; always: ask about everything. Default: never, or risky when you grant "
               "hosts, writes, a database or an MCP server.")
_RISK_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan", "none": "green"}

PolicyOption = Annotated[Path | None, typer.Option("--policy", help="A policy file (TOML or JSON) over the "
                                                   "shipped default (also NATIVA_REVIEW_POLICY).")]
DbOption = Annotated[Path | None, typer.Option("--db", help="The review database (default: NATIVA_REVIEW_DB or "
                                               "<NATIVA_HOME>/nativa.db).")]
HostOption = Annotated[list[str] | None, typer.Option("--allow-host", help="A host the run grants (repeatable), "
                                                      "as for nativa run: example.com, *.example.com.")]


@review_app.callback()
def _review() -> None:
    """Review model-written code and tool calls before they run."""


def _policy(path: Path | None) -> Any:
    from nativa.review import Policy

    return Policy.load(path or settings().review_policy)


def _context(session: str, allow_host: list[str] | None, previous: str | None = None,
             allow_writes: bool = False) -> Any:
    from nativa.cli._runtime import local_user
    from nativa.review import ReviewContext

    return ReviewContext(session=session, who=local_user(), allow_hosts=tuple(allow_host or ()),
                         allow_writes=allow_writes, previous_code=previous)


def _tool_arguments(file: Path, tool: str) -> dict[str, Any]:
    arguments = read_json_file(file, f"the {tool} call's arguments file")
    if not isinstance(arguments, dict):
        raise BadInputError(f"{file} must hold a JSON object of the {tool} tool's arguments, "
                            "e.g. {\"query\": \"SELECT 1\"}")
    return arguments


def _findings_table(verdict: Any) -> Table:
    table = Table(show_edge=False)
    for column in ("line", "risk", "rule", "message"):
        table.add_column(column, justify="right" if column == "line" else "left", overflow="fold")
    for f in verdict.findings:
        table.add_row(str(f.line) if f.line else "-", f"[{_RISK_STYLE[f.risk]}]{f.risk}[/]", f.rule,
                      escape(f.message))
    return table


@review_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="The Python file to review (or, with --tool, its arguments as JSON).")],
    policy: PolicyOption = None,
    tool: Annotated[str | None, typer.Option("--tool", help="Review a tool call instead: sql, http, python, or "
                                             "any tool name; FILE holds its arguments as JSON.")] = None,
    allow_host: HostOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print {findings: [...], max_risk} as JSON.")] = False,
) -> None:
    """The static pass on FILE: exit 0 when nothing is above low, 1 at medium or high, 2 for bad input."""
    from nativa.review import risk_rank

    chosen = _policy(policy)
    context = _context("default", allow_host)
    if tool is None:
        verdict = chosen.check_code(read_source(file, "to review"), context)
    else:
        verdict = chosen.check_tool_call(tool, _tool_arguments(file, tool), context)
    if json_out:
        print_json(verdict.to_dict())
    elif verdict.findings:
        out.print(_findings_table(verdict))
        out.print(f"max risk: [{_RISK_STYLE[verdict.max_risk]}]{verdict.max_risk}[/] "
                  f"({len(verdict.findings)} finding(s), policy {escape(chosen.source)})")
    else:
        out.print(f"no findings (max risk: none, policy {escape(chosen.source)})")
    raise typer.Exit(1 if risk_rank(verdict.max_risk) >= risk_rank("medium") else 0)


@review_app.command("ask")
def ask(
    file: Annotated[Path, typer.Argument(help="The Python file a person should review before it runs.")],
    mode: Annotated[str, typer.Option("--mode", help="risky: ask when a finding is medium or high; always: ask "
                                      "for everything; never: ask nothing.")] = "risky",
    session: Annotated[str, typer.Option("--session", help="The session approvals are scoped to.")] = "default",
    previous: Annotated[Path | None, typer.Option("--previous", help="The previous attempt, to show the diff.")] = None,
    policy: PolicyOption = None,
    db: DbOption = None,
    allow_host: HostOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Review FILE as the agent will: the policy, then you (for what --mode asks), then the audit log.

    Exit 0 when it may run, 1 when it was rejected or nobody could be asked (no terminal: fails closed).
    """
    from nativa.review.approvals import Approvals, Reviewer, check_mode
    from nativa.review.audit import AuditLog
    from nativa.review.store import SQLiteReviewStore
    from nativa.review.terminal import TerminalPrompter

    chosen_mode = check_mode(mode)
    code = read_source(file, "to review")
    before = read_source(previous, "to compare with") if previous is not None else None
    chosen = _policy(policy)
    with SQLiteReviewStore(db or settings().review_db_path) as store:
        reviewer = Reviewer(chosen, mode=chosen_mode, approvals=Approvals(store), prompter=TerminalPrompter(err),
                            audit=AuditLog(store))
        decision = reviewer.review(code, _context(session, allow_host, before))
    if json_out:
        print_json(decision.to_dict())
    else:
        style = "green" if decision.approved else "bold red"
        err.print(f"[{style}]{decision.status}[/]: {escape(decision.reason)} (audit entry {decision.audit_seq})")
    raise typer.Exit(0 if decision.approved else 1)


@review_app.command("log")
def log(
    session: Annotated[str | None, typer.Option("--session", help="Only this session's entries.")] = None,
    verify: Annotated[bool, typer.Option("--verify", help="Check the hash chain: exit 1 if an entry was edited, "
                                         "removed or moved.")] = False,
    db: DbOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every review verdict and approval: who, when, scope, the code's hash, what was found."""
    from nativa.review.audit import AuditLog, ChainReport
    from nativa.review.store import SQLiteReviewStore

    path = db or settings().review_db_path
    if not path.exists():
        if db is not None:
            raise BadInputError(f"no review database at {path}: give the file nativa review wrote (--db PATH)")
        entries, report = [], ChainReport(ok=True, entries=0)
    else:
        with SQLiteReviewStore(path) as store:
            audit = AuditLog(store)
            entries = audit.entries(session)
            report = audit.verify() if verify else None
    if verify and report is not None:
        _print_report(report, path, json_out)
        raise typer.Exit(0 if report.ok else 1)
    if json_out:
        print_json({"entries": [e.to_dict() for e in entries]})
        return
    if not entries:
        out.print(f"no review entries{f' for session {escape(session)!r}' if session else ''} in {path}")
        return
    rows = [("seq", "when (UTC)", "who", "session", "subject", "verdict", "scope", "risk", "code")]
    rows += [(str(e.seq), e.at[:19].replace("T", " "), e.who, e.session, e.subject, e.verdict, e.scope or "-",
              e.max_risk, e.code_hash[7:19]) for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for number, row in enumerate(rows):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        out.print(f"[bold]{escape(line)}[/]" if number == 0 else escape(line))
    out.print("[dim]reasons and findings: nativa review log --json[/]")


def _print_report(report: Any, path: Path, json_out: bool) -> None:
    if json_out:
        print_json(report.to_dict())
        return
    if report.ok:
        out.print(f"[green]ok[/]: {report.entries} entries in {escape(str(path))}, the hash chain is intact")
        return
    out.print(f"[bold red]broken[/]: the audit log in {escape(str(path))} was tampered with "
              f"({len(report.problems)} problem(s) in {report.entries} entries)")
    for problem in report.problems:
        out.print(f"  entry {problem.seq}: [red]{problem.kind}[/]: {escape(problem.message)}")


def bench_review(
    results: Annotated[str, typer.Option("--results", help="Benchmark result files (benign candidates).")] =
    "docs/results/*.jsonl",
    hostile: Annotated[Path, typer.Option("--hostile", help="The sandbox's hostile battery.")] =
    Path("tests/integration/sandbox/test_hostile.py"),
    runs: Annotated[int, typer.Option("--runs", min=0, help="HumanEval candidates to time beside a sandbox run "
                                      "(0: no timing).")] = 164,
    policy: PolicyOption = None,
    allow_weak: Annotated[bool, typer.Option("--allow-weak", help="Time even a weak sandbox.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Flags on benign and hostile sets, and the policy's time per candidate beside the sandbox's."""
    from nativa.bench.review import render, run_review_bench

    result = run_review_bench(results=results, hostile=hostile, runs=runs,
                              policy_path=policy or settings().review_policy,
                              allow_weak=allow_weak or settings().sandbox_allow_weak,
                              log=None if json_out else (lambda msg: err.print(f"[dim]{escape(msg)}[/]")))
    if json_out:
        print_json(result.to_dict())
    else:
        out.print(render(result))
        for s in result.sets:
            if s.missed:
                out.print(f"[red]missed in {escape(s.name)}:[/] {escape(', '.join(s.missed))}")
            if s.kind == "benign" and s.flagged_high:
                out.print(f"[yellow]benign flagged high in {escape(s.name)}:[/] "
                          f"{escape(', '.join(s.flagged_high[:20]))}")
