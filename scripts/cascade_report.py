"""Where a cascade's compute goes, from the per-problem files of `nativa bench humaneval --model small
--model large --model cascade --out F.jsonl` (one file per system), or of `nativa bench tools` the same way:
the tables in docs/benchmarks.md.

Usage: python scripts/cascade_report.py SMALL.jsonl LARGE.jsonl CASCADE.jsonl [--limit N] [--cuts 24,48,...]

It reads only what the bench wrote (hidden-test verdicts per attempt, compute, escalation); it runs nothing.
Kept as a script rather than a `nativa bench` subcommand because it is a one-off analysis of recorded runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

Row = dict[str, Any]


def _rows(path: Path, limit: int | None) -> dict[str, Row]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("system", "nativa") == "nativa"]
    if all("task_id" in r for r in rows):  # HumanEval: in problem order (a --resume file may not be)
        rows.sort(key=lambda r: int(str(r["task_id"]).rsplit("/", 1)[-1]))
    return {str(r.get("task_id", r.get("id"))): r for r in rows[:limit]}


def _passed(r: Row) -> bool:
    """HumanEval's hidden tests after the last attempt, or the tool bench's checked answer."""
    return bool(r["passed_after"][-1]) if "passed_after" in r else bool(r["correct"])


def _compute(rows: dict[str, Row], ids: list[str]) -> float:
    return sum(float(rows[t]["compute"]) for t in ids)


def report(small: dict[str, Row], large: dict[str, Row], cascade: dict[str, Row], cuts: list[int]) -> str:
    """The markdown tables: totals, stretches of the problem list, and the kept / escalated split."""
    ids = [t for t in cascade if t in small and t in large]
    systems = {"small": small, "large": large, "cascade": cascade}
    large_total = _compute(large, ids)
    coding = all("passed_after" in r for r in cascade.values())
    right = "pass@1 after 3 (hidden tests)" if coding else "right (checked answer)"
    out = [(f"| system | {right} | attempt 1 | escalated | output tokens | compute "
            "| compute / large's | wall |"), "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, rows in systems.items():
        passed = sum(_passed(rows[t]) for t in ids)
        first = sum(bool(rows[t]["passed_after"][0]) for t in ids) if coding else "–"
        esc = sum(bool(rows[t].get("escalated")) for t in ids)
        escs = f"{esc / len(ids):.0%} ({esc}/{len(ids)})" if name == "cascade" else "–"
        tokens = sum(int(rows[t]["output_tokens"]) for t in ids)
        wall = sum(float(rows[t]["wall_s"]) for t in ids)
        comp = _compute(rows, ids)
        out.append(f"| {name} | {passed / len(ids):.1%} ({passed}/{len(ids)}) | {first} | {escs} | {tokens:,} "
                   f"| {comp:.3g} | {comp / large_total:.2f} | {wall:,.0f} s |")
    out += ["", "| problems | small | large | cascade | escalated |", "| --- | --- | --- | --- | --- |"]
    bounds = [0, *[c for c in cuts if 0 < c < len(ids)], len(ids)]
    for a, b in pairwise(bounds):
        part = ids[a:b]
        base = _compute(large, part)
        cells = [f"{sum(_passed(rows[t]) for t in part)}/{len(part)}, {_compute(rows, part) / base:.2f}"
                 for rows in systems.values()]
        esc = sum(bool(cascade[t].get("escalated")) for t in part)
        out.append(f"| {a + 1}–{b} | " + " | ".join(cells) + f" | {esc} |")
    escalated = [t for t in ids if cascade[t].get("escalated")]
    kept = [t for t in ids if not cascade[t].get("escalated")]
    out.append("")
    for label, part in (("kept by the small stage", kept), ("escalated", escalated)):
        if not part:
            continue
        out.append(f"- {label}: {len(part)} problems, cascade right {sum(_passed(cascade[t]) for t in part)}, "
                   f"large alone {sum(_passed(large[t]) for t in part)}; cascade compute "
                   f"{_compute(cascade, part) / _compute(large, part):.2f}x the large model's on them, which "
                   f"are {_compute(large, part) / large_total:.0%} of the large model's total")
    if escalated:
        floor = (_compute(large, escalated) + _compute(cascade, kept)) / large_total
        out.append(f"- floor at this escalation set: with the large stage spending on the escalated problems "
                   f"exactly what the large model alone does, and the small stage nothing on them, the cascade "
                   f"would cost {floor:.2f}x the large model's compute")
    for name, rows in systems.items():
        claims: dict[str, list[int]] = {}
        for t in ids:
            r = rows[t]
            if r.get("success") and r.get("verified_by"):
                right_total = claims.setdefault(r["verified_by"], [0, 0])
                right_total[0] += _passed(r)
                right_total[1] += 1
        if claims:
            out.append(f"- precision of 'solved', {name}: "
                       + ", ".join(f"{k} {a}/{b}" for k, (a, b) in sorted(claims.items())))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("small", type=Path)
    parser.add_argument("large", type=Path)
    parser.add_argument("cascade", type=Path)
    parser.add_argument("--limit", type=int, default=None, help="only the first N problems of each file")
    parser.add_argument("--cuts", default="24,48,84", help="problem counts where the stretch table splits")
    args = parser.parse_args(argv)
    try:
        cuts = [int(c) for c in args.cuts.split(",") if c.strip()]
        files = [_rows(p, args.limit) for p in (args.small, args.large, args.cascade)]
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report(*files, cuts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
