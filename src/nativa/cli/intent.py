"""`nativa bench intent`: the intent parser's routing accuracy and cost per model, and the cascade's threshold.

    nativa bench intent                                   # small, large and cascade on the test split
    nativa bench intent --calibrate                       # choose cascade_intent_threshold on the other split
"""

from __future__ import annotations

import re
import time
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nativa.cli._common import out, print_json, run_scored, settings

_SPLITS = ("calibrate", "test", "all")


def bench_intent(
    models: Annotated[list[str] | None, typer.Option("--model", "-m", help="Models to measure (repeatable; "
                                                     "default: small, large and cascade).")] = None,
    split: Annotated[str | None, typer.Option("--split", help="Which requests: test (default), calibrate or "
                                              "all.")] = None,
    calibrate: Annotated[bool, typer.Option("--calibrate", help="Run the cascade's first two stages on the "
                                            "calibrate split and choose cascade_intent_threshold: the lowest "
                                            "at which the replayed cascade reaches the larger model's "
                                            "accuracy.")] = False,
    cascade: Annotated[str, typer.Option("--cascade", help="With --calibrate: the cascade whose first two "
                                         "stages are calibrated.")] = "cascade",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most N requests of each kind.")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Per-request JSONL (default: "
                                                  "bench-results/intent-<model>-<time>.jsonl).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summaries (and calibration) as JSON.")] = False,
) -> None:
    """Routing accuracy of the intent parser (rules, then the model) on labelled requests, with the share the
    model decided, a cascade's escalations, tokens, compute and time per system."""
    from nativa import tracing
    from nativa.bench import intent as bench
    from nativa.errors import BadInputError
    from nativa.models.cascade import parse_cascade

    if split is not None and split not in _SPLITS:
        raise BadInputError(f"--split {split!r} is not a split; valid: {', '.join(_SPLITS)}")
    if calibrate and (models or split not in (None, "calibrate")):
        raise BadInputError("--calibrate measures the first two stages of --cascade on the calibrate split; "
                            "drop --model and --split, or drop --calibrate")
    split = split or "test"
    cfg = settings()
    tracing.setup(cfg)
    if calibrate:
        stages = parse_cascade(cascade)[:2]
        tasks = bench.load_tasks(split="calibrate", limit=limit)
        small, large = (_run(bench, cfg, name, tasks, out_file, json_out) for name in stages)
        result = bench.calibrate(small, large)
        if json_out:
            print_json({"stages": list(stages), "calibration": result.to_dict()})
            return
        _calibration_table(result, stages)
        return
    tasks = bench.load_tasks(split=None if split == "all" else split, limit=limit)
    summaries = [bench.summarise(r[0].model if r else name, r, _path(out_file, name))
                 for name in models or ["small", "large", "cascade"]
                 for r in [_run(bench, cfg, name, tasks, out_file, json_out)]]
    if json_out:
        print_json([s.to_dict() for s in summaries])
        return
    table = Table("model", "requests", "accuracy", "model decided", "model accuracy", "escalated", "in tokens",
                  "out tokens", "compute", "wall s",
                  title=f"Intent routing on {len(tasks)} requests ({split} split; per-request results in "
                        f"{_path(out_file, 'x').parent}/)")
    for s in summaries:
        table.add_row(s.model, str(s.tasks), f"{s.accuracy:.1%}", str(s.model_decided), f"{s.model_accuracy:.1%}",
                      f"{s.escalated_share:.1%}", str(s.input_tokens), str(s.output_tokens), f"{s.compute:.3g}",
                      f"{s.wall_s:.1f}")
    out.print(table)


_STAMP = time.strftime("%Y%m%d-%H%M%S")


def _path(out_file: Path | None, name: str) -> Path:
    safe = re.sub(r"[^\w.-]+", "_", name)
    if out_file is not None:
        return out_file.with_name(f"{out_file.stem}-{safe}{out_file.suffix or '.jsonl'}")
    return Path("bench-results") / f"intent-{safe}-{_STAMP}.jsonl"


def _run(bench: Any, cfg: Any, name: str, tasks: list[Any], out_file: Path | None, quiet: bool) -> list[Any]:
    """One system over the requests, with a progress bar and each result appended to its file as it lands."""
    return run_scored(name, len(tasks), _path(out_file, name), quiet,
                      partial(bench.run_bench, cfg, name, tasks))


def _calibration_table(result: Any, stages: tuple[str, ...]) -> None:
    table = Table("threshold", "cascade accuracy", "escalated", "compute", "compute / large",
                  title=f"Cascade {stages[0]} -> {stages[1]} replayed on the {result.tasks} calibrate requests "
                        f"({stages[0]} {result.small_accuracy:.1%}, {stages[1]} {result.large_accuracy:.1%})")
    for row in result.rows:
        mark = " <" if row.threshold == result.chosen else ""
        share = row.compute / result.large_compute if result.large_compute else float("nan")
        table.add_row(f"{row.threshold:.2f}{mark}", f"{row.accuracy:.1%}", f"{row.escalated_share:.1%}",
                      f"{row.compute:.3g}", f"{share:.2f}")
    out.print(table)
    out.print(f"chosen: cascade_intent_threshold = {result.chosen} ({result.why})")
