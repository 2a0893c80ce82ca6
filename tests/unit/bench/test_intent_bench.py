"""`nativa bench intent`: the labelled requests, the split, and the threshold a cascade is calibrated to."""

from __future__ import annotations

from collections import Counter

import pytest

from nativa.bench.intent import IntentResult, calibrate, load_tasks, replay


def _r(task: str, correct: bool, *, confidence: float = 1.0, source: str = "model", compute: float = 1.0,
       model: str = "small", known: bool = True) -> IntentResult:
    return IntentResult(id=task, kind="sql", split="calibrate", model=model, predicted="sql" if correct else "chat",
                        correct=correct, source=source, confidence=confidence, compute=compute,
                        probability=confidence if known and source == "model" else None)


def test_the_shipped_requests_split_each_kind_in_two_disjoint_halves() -> None:
    tasks = load_tasks()
    assert len({t.id for t in tasks}) == len(tasks) >= 80
    calib, test = load_tasks(split="calibrate"), load_tasks(split="test")
    assert not {t.id for t in calib} & {t.id for t in test} and len(calib) + len(test) == len(tasks)
    kinds = Counter(t.kind for t in tasks)
    assert set(kinds) == {"sql", "http", "code", "chat", "unclear"}
    for kind, n in kinds.items():
        assert Counter(t.kind for t in calib)[kind] == n // 2
    assert all(n <= 2 for n in Counter(t.kind for t in load_tasks(limit=2)).values())


def test_replay_takes_the_large_pick_below_the_threshold_and_both_costs() -> None:
    small = [_r("a", True, confidence=0.95), _r("b", False, confidence=0.6), _r("c", True, source="rule", compute=0),
             _r("d", False, source="default")]
    large = [_r(t, True, compute=3.0, model="large") for t in "abcd"]
    row = replay(small, large, 0.7)
    assert row.accuracy == 1.0 and row.escalated_share == pytest.approx(2 / 3)  # b and d of the 3 the model decided
    assert row.compute == pytest.approx(3 * 1.0 + 2 * 3.0)
    assert replay(small, large, 0.5).accuracy == 0.75  # b (0.6) stays on the small model: wrong


def test_replay_does_what_the_parser_does_with_an_unknown_probability_and_a_failed_large_stage() -> None:
    # no logprobs: the parser keeps the pick (confidence 0.5, unknown), so the replay must too
    small = [_r("a", False, confidence=0.5, known=False), _r("b", True, confidence=0.6)]
    large = [_r("a", True, model="large"), _r("b", False, source="default", model="large")]
    row = replay(small, large, 0.9)
    assert row.escalated_share == 0.5  # b only
    assert row.accuracy == 0.5  # a stays wrong; b's large stage gave nothing, so the small pick stands (right)


def test_calibrate_chooses_the_lowest_threshold_that_reaches_the_large_model() -> None:
    small = [_r("a", True, confidence=0.99), _r("b", False, confidence=0.85), _r("c", False, confidence=0.7)]
    large = [_r(t, ok, compute=3.0, model="large") for t, ok in [("a", True), ("b", True), ("c", True)]]
    result = calibrate(small, large, thresholds=(0.5, 0.8, 0.9, 1.0))
    assert result.chosen == 0.9 and result.large_accuracy == 1.0 and result.small_accuracy == pytest.approx(1 / 3)
    assert [r.accuracy for r in result.rows] == pytest.approx([1 / 3, 2 / 3, 1.0, 1.0])


def test_calibrate_falls_back_to_the_most_accurate_threshold_when_none_reaches_the_large_model() -> None:
    small = [_r("a", True, confidence=0.99), _r("b", True, confidence=0.6)]
    large = [_r("a", True, model="large"), _r("b", True, model="large")]
    # the large model is right on both; the small one too, so every threshold reaches it: the lowest wins
    assert calibrate(small, large, thresholds=(0.5, 0.9)).chosen == 0.5
    # the small model is wrong when sure (a) and on b, which only a threshold over 0.6 escalates; the large one
    # is wrong on a too, so no threshold reaches its 3/3 ... and the most accurate, not the lowest, is chosen
    small = [_r("a", False, confidence=0.99), _r("b", False, confidence=0.6), _r("c", True, confidence=0.99)]
    large = [_r("a", True, model="large"), _r("b", True, model="large"), _r("c", True, model="large")]
    result = calibrate(small, large, thresholds=(0.5, 0.7, 0.9))
    assert [r.accuracy for r in result.rows] == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    assert result.chosen == 0.7 and "no threshold reaches" in result.why
