"""`nativa bench ...`: measurements recorded in docs/benchmarks.md, each side by side in one run."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from nativa.cli._common import out, print_json, progress_bar, settings
from nativa.scale import RAY_HELP

if TYPE_CHECKING:
    from nativa.bench.humaneval import ProblemResult

bench_app = typer.Typer(help="Benchmarks: each compares nativa with a baseline measured in the same run.",
                        no_args_is_help=True)


@bench_app.command("model")
def bench_model(
    models: list[str] = typer.Option(["small", "large"], "--model", "-m", help="Embedded models to measure."),
    runs: int = typer.Option(3, "--runs", min=1, help="Alternating runs per side."),
    max_tokens: int = typer.Option(128, "--max-tokens", min=8),
    batch: str | None = typer.Option(None, "--batch", help=(
        "Instead: n samples of one prompt decoded together for each n (e.g. 1,2,4,8), vs one sample and "
        "vs the host's ceiling for n.")),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Tokens/s and time to first token through nativa vs raw llama-cpp-python, same prompt, same run."""
    from nativa.bench.model import render, run_model_bench

    if batch is not None:
        from nativa.bench import batch as batch_bench

        points = batch_bench.run_batch_bench(settings(), models, batch_bench.parse_batch(batch), runs=runs,
                                             max_tokens=max_tokens,
                                             log=lambda msg: out.print(f"[dim]{msg}[/]") if not json_out else None)
        if json_out:
            print_json([p.to_dict() for p in points])
        else:
            out.print(batch_bench.render(points))
        return

    results = run_model_bench(settings(), models, runs=runs, max_tokens=max_tokens,
                              log=lambda msg: out.print(f"[dim]{msg}[/]") if not json_out else None)
    if json_out:
        print_json([r.to_dict() for r in results])
    else:
        out.print(render(results))


@bench_app.command("humaneval")
def bench_humaneval(
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N problems."),
    attempts: int = typer.Option(3, "--attempts", min=1, max=10, help="Agent attempts per problem (K)."),
    model: list[str] = typer.Option([], "--model", "-m", help="Model to use (default: small); repeat it to "
                                    "measure several side by side, e.g. -m small -m large -m cascade."),
    compare: list[str] = typer.Option([], "--compare", help="Also run a peer on the same problems: smolagents."),
    baseline: list[str] = typer.Option([], "--baseline", help="Also run a baseline on the same problems: plain "
                                       "(one greedy chat completion, the script every user could write)."),
    candidates: int = typer.Option(4, "--candidates", min=1, max=16,
                                   help="Candidates each attempt after the first draws."),
    out_file: Path | None = typer.Option(None, "--out", help="Per-problem JSONL (default: bench-results/...)."),
    n_ctx: int = typer.Option(8192, "--n-ctx", min=2048, help="Context size for all systems (peers need room)."),
    json_out: bool = typer.Option(False, "--json", help="Print the summaries as JSON."),
    ray: str | None = typer.Option(None, "--ray", metavar="[ADDRESS]", help=RAY_HELP),
    workers: int = typer.Option(1, "--workers", "-w", min=1, max=1024,
                                help="With --ray: actors, each with its own model and sandbox."),
    resume: bool = typer.Option(False, "--resume", help="Keep the results already in --out and run only the "
                                "problems each system has not finished (a run stopped halfway goes on)."),
) -> None:
    """pass@1 after attempt 1..K on HumanEval; hidden tests run in the sandbox only for scoring."""
    from nativa.bench import humaneval as he
    from nativa.errors import BadInputError

    unknown = set(compare) - {"smolagents"}
    if unknown:
        raise BadInputError(f"--compare {', '.join(sorted(unknown))} is not supported; valid: smolagents")
    if set(baseline) - {"plain"}:
        raise BadInputError(f"--baseline {', '.join(sorted(set(baseline) - {'plain'}))} is not supported; valid: plain")
    if ray is not None and (compare or baseline):
        raise BadInputError("--compare and --baseline run on this machine only; drop --ray or them")
    if resume and out_file is None:
        raise BadInputError("--resume needs --out: the file whose finished problems to keep")
    cfg = settings().model_copy(update={"n_ctx": n_ctx})
    problems = he.load_problems(limit)
    summaries: list[he.HumanEvalSummary] = []
    paths: list[Path] = []
    for name in model or [None]:
        summaries += _humaneval_one(name, len(model) > 1, problems, cfg, attempts, candidates, out_file, resume,
                                    list(baseline), list(compare), ray, workers, n_ctx, json_out, paths)
    if json_out:
        print_json([s.to_dict() for s in summaries])
        return
    table = Table("system", "model", "problems", *[f"pass@1 after {k + 1}" for k in range(attempts)],
                  "escalated", "out tokens", "compute", "wall s", "median s/problem", "agent overhead",
                  "precision of 'solved'",
                  title=f"HumanEval ({len(problems)} problems), per-problem results in {', '.join(map(str, paths))}")
    for s in summaries:
        precision = ", ".join(f"{k} {v['right']:.0f}/{v['claimed']:.0f}" for k, v in s.precision.items()) or "-"
        table.add_row(s.system, s.model, str(s.problems), *[f"{p:.1%}" for p in s.pass_at_1_after],
                      f"{s.escalated_share:.1%}", str(s.total_output_tokens), f"{s.total_compute:.3g}",
                      f"{s.total_wall_s:.0f}", f"{s.median_wall_s:.1f}", f"{s.overhead_fraction:.2%}", precision)
    out.print(table)


def _humaneval_one(model: str | None, several: bool, problems: list[dict[str, Any]], cfg: Any, attempts: int,
                   candidates: int, out_file: Path | None, resume: bool, baseline: list[str], compare: list[str],
                   ray: str | None, workers: int, n_ctx: int, json_out: bool,
                   paths: list[Path]) -> list[Any]:
    """Every system of `nativa bench humaneval` on one model; with several models each has its own results
    file (`--out` gets the model's name added), so `--resume` keeps each model's results apart."""

    from nativa.agent import CodeAgent
    from nativa.bench import humaneval as he
    from nativa.bench._stats import write_jsonl
    from nativa.cli._runtime import open_model, open_sandbox

    if ray is None:
        chat_model = open_model(model, cfg)
        sandbox = open_sandbox(cfg, pool_size=2)
        agent = CodeAgent(chat_model, sandbox, max_attempts=attempts, candidates=candidates,
                          max_tokens=cfg.max_tokens, temperature=0.0, settings=cfg)
    model_name = chat_model.name if ray is None else (model or cfg.model)
    safe = re.sub(r"[^\w.-]+", "_", model_name)
    path = out_file or Path("bench-results") / f"humaneval-{safe}-{he.timestamp()}.jsonl"
    if out_file is not None and several:
        path = out_file.with_name(f"{out_file.stem}-{safe}{out_file.suffix}")
    paths.append(path)
    earlier = he.read_jsonl(path) if resume else {}
    summaries = []
    systems = baseline + ["nativa"] + compare
    for system in systems:
        kept = {p["task_id"]: earlier[(system, p["task_id"])] for p in problems if (system, p["task_id"]) in earlier}
        todo = [p for p in problems if p["task_id"] not in kept]
        done: list[he.ProblemResult] = list(kept.values())
        with progress_bar(quiet=json_out) as progress:
            task = progress.add_task(f"{system}: starting", total=len(problems), completed=len(kept))

            def tick(r: he.ProblemResult, done: list[he.ProblemResult] = done, task: Any = task,
                     system: str = system) -> None:
                r.passed_after += [r.passed_after[-1]] * (attempts - len(r.passed_after))  # one-shot systems
                done.append(r)
                write_jsonl(path, [r])
                rate = sum(x.passed_after[-1] for x in done) / len(done)
                progress.update(task, advance=1, description=f"{system}: pass@1 {rate:.1%}")

            if system == "nativa" and ray is not None:
                results = _humaneval_on_ray(ray or None, todo, model_name, cfg.max_tokens, n_ctx, attempts,
                                            workers, tick, candidates)
            elif system == "nativa":
                results = he.run_nativa(todo, agent, sandbox, attempts=attempts, on_result=tick)
            elif system == "plain":
                from nativa.bench.plain import run_plain

                results = run_plain(todo, chat_model, sandbox, max_tokens=cfg.max_tokens, on_result=tick)
            else:
                from nativa.bench.compare import run_smolagents

                results = run_smolagents(todo, chat_model, sandbox, max_steps=attempts,
                                         max_tokens=cfg.max_tokens, on_result=tick)
        fresh = {r.task_id: r for r in results}
        results = [kept.get(p["task_id"]) or fresh[p["task_id"]] for p in problems
                   if p["task_id"] in kept or p["task_id"] in fresh]
        summaries.append(he.summarise(system, model_name, results, attempts, path))
    return summaries


@bench_app.command("sentences")
def bench_sentences(
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N tasks."),
    attempts: int = typer.Option(3, "--attempts", min=1, max=10, help="Agent attempts per task."),
    candidates: int = typer.Option(4, "--candidates", min=1, max=16, help="Candidates per later attempt."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model to use (default: small)."),
    out_file: Path | None = typer.Option(None, "--out", help="Per-task JSONL (default: bench-results/...)."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    resume: bool = typer.Option(False, "--resume", help="Keep the results already in --out and run only the "
                                "tasks not finished by both systems (a run stopped halfway goes on)."),
) -> None:
    """Tasks as users give them (one sentence + one assert via --tests): nativa vs one plain call with the
    assert in its prompt, judged by hidden asserts in the sandbox."""
    import json
    from dataclasses import asdict

    from nativa.agent import CodeAgent
    from nativa.bench import sentence
    from nativa.bench.humaneval import timestamp
    from nativa.cli._runtime import open_model, open_sandbox
    from nativa.errors import BadInputError

    if resume and out_file is None:
        raise BadInputError("--resume needs --out: the file whose finished tasks to keep")
    tasks = sentence.load_sentence_tasks()[:limit] if limit else sentence.load_sentence_tasks()
    earlier = sentence.read_results(out_file) if resume and out_file is not None else {}
    cfg = settings()
    chat_model = open_model(model, cfg)
    sandbox = open_sandbox(cfg, pool_size=2)
    path = out_file or Path("bench-results") / f"sentences-{chat_model.name}-{timestamp()}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    agent = CodeAgent(chat_model, sandbox, max_attempts=attempts, candidates=candidates,
                      max_tokens=cfg.max_tokens, temperature=0.0, settings=cfg)
    rows: dict[str, list[sentence.SentenceResult]] = {"plain": [], "nativa": []}
    with progress_bar(quiet=json_out) as progress, path.open("a", encoding="utf-8") as fh:
        bar = progress.add_task("sentences", total=len(tasks))
        for t in tasks:
            kept = [earlier.get((system, t.id)) for system in rows]
            done = [k for k in kept if k is not None]
            fresh = []
            if len(done) < len(rows):  # both systems again, so the pair always compares the same tasks
                fresh = [sentence.run_plain_task(t, chat_model, sandbox, cfg.max_tokens),
                         sentence.run_nativa_task(t, agent, sandbox)]
            for r in fresh:
                fh.write(json.dumps(asdict(r)) + "\n")
                fh.flush()
            for r in fresh or done:
                rows[r.system].append(r)
            rates = " ".join(f"{k} {sum(x.passed for x in v) / len(v):.0%}" for k, v in rows.items())
            progress.update(bar, advance=1, description=rates)
    summary = {k: {"tasks": len(v), "passed": sum(x.passed for x in v),
                   "pass_rate": sum(x.passed for x in v) / len(v) if v else 0.0,
                   "output_tokens": sum(x.output_tokens for x in v), "wall_s": sum(x.wall_s for x in v),
                   "claimed": sum(x.claimed for x in v),
                   "claimed_and_right": sum(x.claimed and x.passed for x in v)} for k, v in rows.items()}
    if json_out:
        print_json({"model": chat_model.name, "results_file": str(path), "systems": summary})
        return
    table = Table("system", "tasks", "passed (hidden)", "pass rate", "claimed solved", "of those right",
                  "out tokens", "wall s", title=f"sentence tasks on {chat_model.name}; per task: {path}")
    for k, v in summary.items():
        table.add_row(k, str(v["tasks"]), str(v["passed"]), f"{v['pass_rate']:.1%}", str(v["claimed"]),
                      str(v["claimed_and_right"]), str(v["output_tokens"]), f"{v['wall_s']:.0f}")
    out.print(table)


def _humaneval_on_ray(address: str | None, problems: list[dict[str, Any]], model: str, max_tokens: int,
                      n_ctx: int, attempts: int, workers: int,
                      tick: Callable[[ProblemResult], None], candidates: int = 4) -> list[ProblemResult]:
    """The same per-problem unit (`solve_problem`) on Ray actors, each loading the model once."""
    from nativa.bench.humaneval import PLUGIN, run_humaneval
    from nativa.scale import WorkerSpec, make_backend

    spec = WorkerSpec(model=model, settings={"n_ctx": n_ctx, "max_tokens": max_tokens}, pool_size=2,
                      candidates=candidates, plugins=(PLUGIN,))
    backend = make_backend(spec, use_ray=True, ray_address=address, workers=workers)
    return run_humaneval(backend, problems, attempts=attempts, workers=workers, on_result=tick)
