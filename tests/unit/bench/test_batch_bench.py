"""The batching benchmarks' arithmetic and their command-line contract (no model is loaded)."""

from __future__ import annotations

import pytest

from nativa.bench.batch import BatchPoint, decode_tok_s, parse_batch
from nativa.bench.serve import Level, ServeBenchResult
from nativa.cli import run
from nativa.models.base import Completion


def test_batch_sizes_parse_and_bad_ones_are_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_batch("8,1,4,2,4") == [1, 2, 4, 8]
    assert run(["bench", "model", "--batch", "1,x"]) == 2
    err = capsys.readouterr().err
    assert "--batch '1,x' must be comma-separated whole numbers" in err and "Traceback" not in err
    assert run(["bench", "model", "--batch", "0"]) == 2
    assert run(["serve", "--max-batch", "0"]) == 2
    assert run(["bench", "serve", "--max-batch", "65"]) == 2


def test_decode_throughput_leaves_out_the_prompt() -> None:
    # two samples of 11 tokens: the first token of each came at 0.5 s, the last sample ended at 2.5 s
    samples = [Completion("a", "length", 30, 11, 2.5, "m", 0.5), Completion("b", "length", 30, 11, 2.0, "m", 0.5)]
    assert decode_tok_s(samples) == pytest.approx(20 / 2.0)


def test_ratios_are_medians_of_the_rounds_ratios() -> None:
    # round 2 ran while the machine was busy: every side slowed, the ratios barely moved
    p = BatchPoint(model="small", n=4, tokens=256, steps=64, batched=[60.0, 30.0, 66.0], single=[30.0, 16.0, 30.0],
                   ceiling=[80.0, 40.0, 80.0], ceiling_1=[32.0, 16.0, 32.0])
    assert (p.speedup, p.of_ceiling, p.ceiling_speedup) == (2.0, 0.75, 2.5)
    assert (p.runs, p.batched_tok_s, p.ceiling_tok_s) == (3, 60.0, 80.0)
    assert p.to_dict()["of_ceiling"] == 0.75 and p.to_dict()["batched"] == [60.0, 30.0, 66.0]


def test_serve_throughput_is_read_against_the_ceiling_for_the_batch_it_could_form() -> None:
    result = ServeBenchResult(model="small", path="m.gguf", n_ctx=4096, threads=2, batch_threads=2,
                              max_tokens=32, max_batch=4, ceilings={1: [30.0], 4: [60.0, 80.0, 70.0]})
    for server, tok, ceiling in (("nativa", 640, 70.0), ("llama.cpp", 320, 30.0), ("nativa", 300, 35.0)):
        result.levels.append(Level(server=server, clients=16, requests=16, ok=16, errors=0, p50_s=1.0,
                                   p99_s=2.0, wall_s=10.0, completion_tokens=tok, ceiling_tok_s=ceiling))
    # each nativa round against the ceiling for 4 (its batch) measured around it: 64/70 and 30/35
    assert result.of_ceiling(16) == pytest.approx((64 / 70 + 30 / 35) / 2)
    assert result.ratio_at(16) == pytest.approx((940 / 20) / 32)  # tokens over wall, rounds pooled
    assert result.to_dict()["ceiling_tok_s"] == {"1": 30.0, "4": 70.0}
